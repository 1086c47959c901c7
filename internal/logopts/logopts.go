// Package logopts reads a service's logging options for the drivers that
// keep logs in files (json-file and local), so that bad values are
// caught before anything is created and the native engine applies the
// same settings Docker would.
package logopts

import (
	"fmt"
	"strconv"

	units "github.com/docker/go-units"
)

// Options are the settings the native engine applies.
type Options struct {
	MaxSize     int64 // bytes; 0: the engine's default
	MaxFiles    int   // 0: the engine's default
	NonBlocking bool  // mode=non-blocking
}

// FileDriver reports whether driver keeps logs in files as hoist's
// native engine does ("" is the engine's default, json-file).
func FileDriver(driver string) bool {
	return driver == "" || driver == "json-file" || driver == "local"
}

// known are the options Docker accepts for json-file and local, plus the
// driver-independent mode and max-buffer-size.
var known = map[string]bool{
	"max-size": true, "max-file": true, "compress": true, "labels": true, "labels-regex": true,
	"env": true, "env-regex": true, "tag": true, "mode": true, "max-buffer-size": true,
}

// Parse checks options for a file driver. Its errors name the option and
// read as "what; what to do".
func Parse(driver string, options map[string]string) (Options, error) {
	var o Options
	for k, v := range options {
		if !known[k] {
			return o, fmt.Errorf("logging option %q is not known to the %s driver; use max-size, max-file, mode, compress, tag, labels or env", k, driverName(driver))
		}
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return o, fmt.Errorf("logging option max-size %q is not a size; use a number with k, m or g, such as 10m", v)
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("logging option max-file %q is not a positive number; use 1 or more", v)
			}
			o.MaxFiles = n
		case "mode":
			switch v {
			case "", "blocking":
			case "non-blocking":
				o.NonBlocking = true
			default:
				return o, fmt.Errorf("logging option mode %q is not a mode; use blocking or non-blocking", v)
			}
		case "max-buffer-size":
			if _, err := units.RAMInBytes(v); err != nil {
				return o, fmt.Errorf("logging option max-buffer-size %q is not a size; use a number with k, m or g, such as 1m", v)
			}
		case "compress":
			if _, err := strconv.ParseBool(v); err != nil {
				return o, fmt.Errorf("logging option compress %q is not a boolean; use true or false", v)
			}
		}
	}
	if _, ok := options["max-file"]; ok && o.MaxSize == 0 && driver != "local" {
		// Docker refuses it too: without a size nothing ever rotates.
		return o, fmt.Errorf("logging option max-file needs max-size; add max-size, such as 10m")
	}
	return o, nil
}

func driverName(driver string) string {
	if driver == "" {
		return "json-file"
	}
	return driver
}
