package compose

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/docker/cli/pkg/kvfile"
)

// registerRawEnvFormat teaches compose-go `env_file: {format: raw}`, as
// docker compose does: the file is read as `docker run --env-file` reads
// it, each line KEY=VALUE taken as is (no quotes, no interpolation, no
// trimming of the value), a bare KEY taken from the environment.
// compose-go takes formats only through its package-wide registry, so the
// parser is registered there once.
var registerRawEnvFormat = sync.OnceFunc(func() {
	dotenv.RegisterFormat("raw", parseRawEnv)
})

func parseRawEnv(r io.Reader, filename string, vars map[string]string, lookup func(string) (string, bool)) error {
	lines, err := kvfile.ParseFromReader(r, lookup)
	if err != nil {
		return fmt.Errorf("read env_file %s: %w", filename, err)
	}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		vars[k] = v
	}
	return nil
}
