package lan

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestChooseInterfaces(t *testing.T) {
	lo := iface{Interface: net.Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, Addr: netip.MustParseAddr("127.0.0.1")}
	eth0 := iface{Interface: net.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast}, Addr: netip.MustParseAddr("192.0.2.2")}
	wlan0 := iface{Interface: net.Interface{Index: 3, Name: "wlan0", Flags: net.FlagUp | net.FlagMulticast}, Addr: netip.MustParseAddr("198.51.100.9")}
	down := iface{Interface: net.Interface{Index: 4, Name: "eth1", Flags: net.FlagMulticast}, Addr: netip.MustParseAddr("203.0.113.1")}
	noIPv4 := iface{Interface: net.Interface{Index: 5, Name: "tun0", Flags: net.FlagUp | net.FlagMulticast}}

	tests := []struct {
		name    string
		all     []iface
		pin     string
		want    []string
		wantErr string
	}{
		{"all: up, multicast, IPv4", []iface{lo, eth0, wlan0, down, noIPv4}, "", []string{"eth0", "wlan0"}, ""},
		{"all: none usable", []iface{lo, down}, "", nil, "no up, multicast-capable interface with an IPv4 address (available: lo, eth1)"},
		{"pinned lo without MULTICAST flag", []iface{lo, eth0}, "lo", []string{"lo"}, ""},
		{"pinned without IPv4", []iface{lo, noIPv4}, "tun0", []string{"tun0"}, ""},
		{"pinned down", []iface{lo, down}, "eth1", nil, `interface "eth1" is down`},
		{"pinned missing", []iface{lo, eth0}, "foo", nil, `interface "foo" not found; available: lo, eth0`},
		{"pinned, no interfaces", nil, "foo", nil, `interface "foo" not found; available: none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseInterfaces(tt.all, tt.pin)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range got {
				names = append(names, it.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("chose %v, want %v", names, tt.want)
			}
		})
	}
}
