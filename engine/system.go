package engine

import "context"

// StoreChecker is an engine with a local store that it can verify
// (hoist system check): the native engine's images, layers and records.
type StoreChecker interface {
	// CheckStore reports each problem it finds; with opts.Repair it
	// removes what cannot be trusted, never a named volume.
	CheckStore(ctx context.Context, opts CheckOptions) ([]StoreProblem, error)
}

// CheckOptions configure CheckStore.
type CheckOptions struct {
	// Full also reads every unpacked layer against its layer's digest.
	Full bool
	// Repair removes (or makes again) what cannot be trusted.
	Repair bool
}

// StoreProblem is one thing CheckStore found.
type StoreProblem struct {
	// Path is the file or directory at fault.
	Path string
	// What says what is wrong.
	What string
	// Repaired says what the repair did, "" when nothing was done.
	Repaired string
}

// Booter is an engine that has to bring its containers back after the
// host booted, as dockerd does at its start (hoist system boot).
type Booter interface {
	// Boot makes the run state that a reboot lost again and starts the
	// containers whose restart policy is always or unless-stopped and
	// that the user did not stop. It is idempotent.
	Boot(ctx context.Context) (BootReport, error)
}

// BootReport says what Boot did.
type BootReport struct {
	// Restored are the containers whose run state was made again.
	Restored []string
	// Started are the containers Boot started (names).
	Started []string
	// Failed are the containers that did not start, with why.
	Failed map[string]string
}
