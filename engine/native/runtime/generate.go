package runtime

// go generate ./engine/native/runtime (go tool task build runs it) builds
// the init binary (initshim, the container side of this package only) for
// package initexe to embed, with its sha256 naming its cached copy, and
// compiles Docker's default seccomp profile for package seccomp to embed.
// Both are optional (not committed): without them hoist runs the init from
// its own binary and compiles the profile at each start, which works the
// same but is slower.

//go:generate env CGO_ENABLED=0 go build -tags hoistinit -trimpath -buildvcs=false "-ldflags=-s -w" -o initexe/initbin/hoist-init ./initshim
//go:generate sh -c "sha256sum initexe/initbin/hoist-init | cut -c1-64 > initexe/initbin/hoist-init.sha256"
//go:generate go run ./seccomp/seccompgen seccomp/generated/default.bin
