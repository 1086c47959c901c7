package supervisor

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/logfile"
)

// Log capture. A container's stdout and stderr are FIFOs in its state
// dir (stdout.fifo, stderr.fifo), which the container holds open for
// reading and writing: a write never fails for want of a reader, so a
// container survives the supervisor's death (its writes block once the
// 64 KiB pipe buffer is full, until a new supervisor adopts it and
// drains the FIFOs again). The supervisor reads them through Go's poller
// (no thread per stream) into the container's log writer
// (engine/native/logfile), which owns the queue, the format and the
// rotation. An exit is recorded only once the output read before it is in
// the file, so "exited" in ps means the log is complete.
const (
	stdoutFifo = "stdout.fifo"
	stderrFifo = "stderr.fifo"
)

// fifos are a container's output FIFOs and the stream each carries.
var fifos = []struct{ name, stream string }{{stdoutFifo, "stdout"}, {stderrFifo, "stderr"}}

// drain copies the FIFO r into log as stream until EOF, in a goroutine
// wg waits for, and closes r.
func drain(wg *sync.WaitGroup, log *logfile.Writer, stream string, r *os.File) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.Close()
		log.Read(stream, r)
	}()
}

// makeFifo creates the FIFO at path unless one is there.
func makeFifo(path string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeNamedPipe != 0 {
			return nil
		}
		os.Remove(path)
	}
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create log fifo: %w", err)
	}
	return nil
}

// openFifoReader opens a FIFO for reading without blocking, so the file
// is served by Go's poller. It reads EOF once no writer is left, so a
// writer must exist first.
func openFifoReader(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open log fifo: %w", err)
	}
	return f, nil
}
