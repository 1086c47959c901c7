package kube_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/convert/kube"
)

// kubernetesModule is the k8s.io/kubernetes release whose API schemas
// (api/openapi-spec/v3) the objects are checked against: the release of
// the k8s.io/api types and of the API server the e2e test runs.
const kubernetesModule = "k8s.io/kubernetes@v1.37.2"

// newTyped is a fresh k8s.io/api value for each kind the converter makes.
var newTyped = map[string]func() any{
	"ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
	"Role":                  func() any { return &rbacv1.Role{} },
	"RoleBinding":           func() any { return &rbacv1.RoleBinding{} },
	"ConfigMap":             func() any { return &corev1.ConfigMap{} },
	"Secret":                func() any { return &corev1.Secret{} },
	"PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"Service":               func() any { return &corev1.Service{} },
	"NetworkPolicy":         func() any { return &networkingv1.NetworkPolicy{} },
	"Job":                   func() any { return &batchv1.Job{} },
	"StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	"DaemonSet":             func() any { return &appsv1.DaemonSet{} },
	"Deployment":            func() any { return &appsv1.Deployment{} },
}

// strictDecode decodes one emitted YAML document into its k8s.io/api
// type as the API server's strict field validation does: a duplicate
// key (in the YAML or the JSON) or a field the type does not have fails.
func strictDecode(doc []byte) (kind string, err error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", fmt.Errorf("yaml: %w", err)
	}
	var tm struct{ Kind string }
	if err := json.Unmarshal(j, &tm); err != nil {
		return "", err
	}
	mk, ok := newTyped[tm.Kind]
	if !ok {
		return tm.Kind, fmt.Errorf("kind %q is not one the converter makes", tm.Kind)
	}
	v := mk()
	strict, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return tm.Kind, err
	}
	if len(strict) > 0 {
		return tm.Kind, fmt.Errorf("%s: %v", tm.Kind, strict)
	}
	return tm.Kind, nil
}

// splitYAML splits a YAML stream into its documents.
func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// schemas are the API's OpenAPI v3 schemas, compiled once per run.
type schemas struct {
	once sync.Once
	err  error
	byGV map[string]*jsonschema.Schema // "apps/v1 Deployment"
}

var apiSchemas schemas

// specFiles are the API groups' schema files, by apiVersion.
var specFiles = map[string]string{
	"v1":                           "api__v1_openapi.json",
	"apps/v1":                      "apis__apps__v1_openapi.json",
	"batch/v1":                     "apis__batch__v1_openapi.json",
	"networking.k8s.io/v1":         "apis__networking.k8s.io__v1_openapi.json",
	"rbac.authorization.k8s.io/v1": "apis__rbac.authorization.k8s.io__v1_openapi.json",
}

// schemaNames are the schemas' names of the kinds, by apiVersion.
var schemaNames = map[string]string{
	"v1":                           "io.k8s.api.core.v1.",
	"apps/v1":                      "io.k8s.api.apps.v1.",
	"batch/v1":                     "io.k8s.api.batch.v1.",
	"networking.k8s.io/v1":         "io.k8s.api.networking.v1.",
	"rbac.authorization.k8s.io/v1": "io.k8s.api.rbac.v1.",
}

// moduleDir downloads the k8s.io/kubernetes module into the module cache
// (once per machine: CI's first run fetches it from the module proxy,
// later ones and the checks themselves need no network) and returns its
// directory.
func moduleDir(mod string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go mod download %s: %w: %s%s", mod, err, ee.Stderr, out)
		}
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	return info.Dir, nil
}

// closeObjects makes every object schema with properties refuse others
// (the API's schemas leave that open), so the schema check catches an
// unknown field too, not only strict decoding.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set {
				v["additionalProperties"] = false
			}
		}
		for _, e := range v {
			closeObjects(e)
		}
	case []any:
		for _, e := range v {
			closeObjects(e)
		}
	}
}

func (s *schemas) load() {
	dir, err := moduleDir(kubernetesModule)
	if err != nil {
		s.err = err
		return
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	s.byGV = map[string]*jsonschema.Schema{}
	for gv, file := range specFiles {
		path := filepath.Join(dir, "api", "openapi-spec", "v3", file)
		f, err := os.Open(path)
		if err != nil {
			s.err = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			s.err = fmt.Errorf("%s: %w", path, err)
			return
		}
		closeObjects(doc)
		url := "file:///" + file
		if err := c.AddResource(url, doc); err != nil {
			s.err = fmt.Errorf("%s: %w", path, err)
			return
		}
		for kind := range newTyped {
			name := schemaNames[gv] + kind
			comps := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
			if _, ok := comps[name]; !ok {
				continue
			}
			sch, err := c.Compile(url + "#/components/schemas/" + name)
			if err != nil {
				s.err = fmt.Errorf("compile %s: %w", name, err)
				return
			}
			s.byGV[gv+" "+kind] = sch
		}
	}
}

// validateSchema checks one object's JSON against the API's schema of
// its kind.
func validateSchema(t testing.TB, o kube.Object) {
	t.Helper()
	apiSchemas.once.Do(apiSchemas.load)
	if apiSchemas.err != nil {
		t.Fatalf("the API's schemas: %v", apiSchemas.err)
	}
	sch, ok := apiSchemas.byGV[o.APIVersion+" "+o.Kind]
	if !ok {
		t.Fatalf("no schema for %s %s", o.APIVersion, o.Kind)
	}
	j, err := o.JSON()
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s %s does not match the API's schema: %v", o.Kind, o.Name, err)
	}
}

// checkObjects runs both checks on every object, through its YAML.
func checkObjects(t testing.TB, objs []kube.Object) {
	t.Helper()
	out, err := kube.Encode(objs, kube.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitYAML(out)
	if len(docs) != len(objs) {
		t.Fatalf("%d YAML documents for %d objects", len(docs), len(objs))
	}
	for i, d := range docs {
		if kind, err := strictDecode(d); err != nil {
			t.Errorf("object %d (%s %s): strict decoding: %v\n%s", i, kind, objs[i].Name, err, d)
		}
		validateSchema(t, objs[i])
	}
}
