package caps

import (
	"strings"
	"testing"
)

func TestDefaultIsDockers14(t *testing.T) {
	if got := strings.Join(Default(), ","); strings.Count(got, "CAP_") != 14 {
		t.Errorf("default capabilities %s", got)
	}
}
