package kube_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// notConverted are the service keys with no golden row, and why.
var notConverted = map[string]string{
	"name":               "the service's name: every row has one",
	"profiles":           "the loader selects the services",
	"develop":            "hoist watch's, for a local loop",
	"attach":             "hoist up's log attachment",
	"extends":            "the loader merges it",
	"net":                "the loader rewrites it (network_mode)",
	"provider":           "compose.Unmapped warns (provider services run on the host)",
	"external_links":     "compose.Unmapped warns, as for links (row unsupported)",
	"pre_start":          "compose.Unmapped warns",
	"post_start":         "compose.Unmapped warns",
	"pre_stop":           "compose.Unmapped warns",
	"scale":              "the resolver's replicas (row replicas)",
	"volume_driver":      "not in the compose specification: the loader refuses it",
	"log_driver":         "not in the compose specification: the loader refuses it",
	"log_opt":            "not in the compose specification: the loader refuses it",
	"dockerfile":         "a legacy key the loader folds into build:",
	"pull_refresh_after": "the loader's, from pull_policy every_DURATION",
}

// serviceKeys lists compose-go's service keys, through embedded structs.
func serviceKeys(rt reflect.Type) []string {
	var out []string
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		switch {
		case f.Anonymous || (tag == "" && f.Type.Kind() == reflect.Struct):
			out = append(out, serviceKeys(f.Type)...)
		case tag == "" || tag == "-" || strings.HasPrefix(tag, "#"):
		default:
			out = append(out, tag)
		}
	}
	return out
}

// TestEveryKeyHasAGoldenRow: each compose service key is set in some
// golden file's compose.yaml, so what it becomes (or the warning that it
// does not) is written down, or it is listed above with the reason.
func TestEveryKeyHasAGoldenRow(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatal("no golden files")
	}
	var composeText strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, _, _ := strings.Cut(string(b), "\n-- want --")
		composeText.WriteString(c)
	}
	all := composeText.String()
	keys := serviceKeys(reflect.TypeOf(types.ServiceConfig{}))
	if len(keys) < 60 {
		t.Fatalf("only %d service keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if _, ok := notConverted[k]; ok {
			continue
		}
		if !strings.Contains(all, "\n    "+k+":") {
			t.Errorf("service key %s has no golden row (testdata/golden/*.txtar)", k)
		}
	}
}
