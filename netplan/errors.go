package netplan

import "errors"

// Error kinds, wrapped by the errors this package returns, for errors.Is.
var (
	// ErrInvalidPort: a service's "ports" entry cannot be published.
	ErrInvalidPort = errors.New("invalid port")
	// ErrPortConflict: two bindings, or a binding and the host, want the
	// same port.
	ErrPortConflict = errors.New("port conflict")
	// ErrPortInUse is what a Probe wraps when something on the host already
	// holds the port; any other probe error means it could not be checked.
	ErrPortInUse = errors.New("port in use")
	// ErrSubnet: a network cannot get the subnet it asks for, or any.
	ErrSubnet = errors.New("subnet allocation")
	// ErrAddress: a container cannot get an address in its network.
	ErrAddress = errors.New("address allocation")
)
