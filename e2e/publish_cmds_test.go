package e2e

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	commands["registry"] = cmdRegistry
}

// registry VAR: an OCI registry in this process on 127.0.0.1 until the
// script ends; VAR is set to its host:port.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: registry VAR")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	ts.Defer(reg.Close)
	ts.Setenv(args[0], strings.TrimPrefix(reg.URL, "http://"))
}
