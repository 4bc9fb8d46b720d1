// Command coredns is CoreDNS with only the plugins the real node's cluster DNS uses.
//
// CoreDNS's own main imports every plugin (the cloud providers' SDKs among them), which makes a
// cold build far too slow for this machine. CoreDNS supports exactly this: a main that imports
// the plugins it wants and sets dnsserver.Directives, in CoreDNS's own order. There is no
// `forward` plugin on purpose: cluster DNS here never asks a server outside the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The subset of CoreDNS's zdirectives.go, in its order (the order plugins run in).
var directives = []string{"bind", "ready", "health", "errors", "log", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
