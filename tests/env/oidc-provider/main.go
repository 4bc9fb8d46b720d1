// Command oidc-provider serves zitadel/oidc's example OpenID Provider on one loopback address.
//
// The example's own main listens on every interface at a fixed port with a localhost issuer;
// the tests need a free loopback port and an issuer they choose, so this wrapper takes both as
// flags and otherwise runs the example unchanged: a real provider with real discovery, JWKS,
// token and login endpoints, keeping its state in memory.
package main

import (
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9998", "host:port to listen on")
	issuer := flag.String("issuer", "http://127.0.0.1:9998/", "issuer URL the provider announces")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	storage.RegisterClients(storage.WebClient("web", "secret", *issuer+"callback"))
	store := storage.NewStorage(storage.NewUserStore(*issuer))
	router := exampleop.SetupServer(*issuer, store, logger, false)
	server := &http.Server{Addr: *listen, Handler: router}
	logger.Info("listening", "addr", *listen, "issuer", *issuer)
	if err := server.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server stopped", "error", err)
		os.Exit(1)
	}
}
