package docker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewUnreachable(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "absent.sock")
	t.Setenv("DOCKER_HOST", sock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(ctx)
	if err == nil {
		b.Close()
		t.Fatal("New succeeded without a daemon")
	}
	if want := "cannot reach the Docker Engine at " + sock + ": is dockerd running?"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want prefix %q", err, want)
	}
}
