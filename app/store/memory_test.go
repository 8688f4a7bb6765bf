package store_test

import (
	"testing"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/app/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory(0) })
}
