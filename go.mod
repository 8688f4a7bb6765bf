module github.com/parlance-chat/parlance

go 1.26.0

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
