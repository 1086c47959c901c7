// Package logfile owns the native engine's container logs: their format,
// the writer the project's supervisor feeds each container's output into
// (a bounded queue, blocking or non-blocking as Docker's modes, with size
// rotation), and the reader behind hoist logs (tail, since, until,
// timestamps, follow through rotations).
//
// # Format
//
// File has one entry per line, as in Kubernetes' CRI log format:
//
//	2025-01-02T15:04:05.000000123Z stdout F hello world
//
// a fixed-width UTC timestamp with nanoseconds (TimeFormat, so that the
// lines of all files sort as text and --since compares as text too), the
// stream (stdout, stderr, or hoist for the writer's own notes), a tag, F
// for a full line or P for a part of a line (a line longer than 16 KiB is
// cut into P parts ended by an F part; output that ends without a newline
// is one P entry), and the text without its newline. Lines are never
// escaped: the text runs to the end of the line.
//
// The file rotates when it would exceed the size cap: container.log
// becomes container.log.1, .1 becomes .2, and so on; the Writer's
// maxFiles files are kept, the live one included. A reader reads the
// highest number first and the live file last.
package logfile

// File is the live log in the container's log dir (its state dir).
const File = "container.log"

// TimeFormat is an entry's time.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"
