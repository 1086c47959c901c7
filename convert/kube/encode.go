package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Formats of the output.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// JSON is o as the API server takes it: its fields as the k8s.io/api
// types write them, without what a new object leaves empty (a null
// creationTimestamp, a status).
func (o Object) JSON() ([]byte, error) {
	raw, err := json.Marshal(o.Value)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	pruneNull(m)
	// A converter's object has no status; the types write an empty one.
	delete(m, "status")
	return json.Marshal(m)
}

// pruneNull drops null values, which the API takes as absent: the
// k8s.io/api types write a null creationTimestamp. Empty objects stay:
// some mean something (emptyDir: {}).
func pruneNull(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			pruneNull(e)
		}
	case []any:
		for _, e := range v {
			pruneNull(e)
		}
	}
}

// Encode writes objs as one stream: YAML documents separated by "---",
// or a JSON List.
func Encode(objs []Object, format string) ([]byte, error) {
	var b bytes.Buffer
	switch format {
	case FormatYAML, "":
		for i, o := range objs {
			doc, err := encodeOne(o, FormatYAML)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b.WriteString("---\n")
			}
			b.Write(doc)
		}
	case FormatJSON:
		items := make([]json.RawMessage, 0, len(objs))
		for _, o := range objs {
			j, err := o.JSON()
			if err != nil {
				return nil, err
			}
			items = append(items, j)
		}
		out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode list: %w", err)
		}
		b.Write(append(out, '\n'))
	default:
		return nil, fmt.Errorf("format %q: use yaml or json", format)
	}
	return b.Bytes(), nil
}

func encodeOne(o Object, format string) ([]byte, error) {
	j, err := o.JSON()
	if err != nil {
		return nil, err
	}
	if format == FormatJSON {
		var b bytes.Buffer
		if err := json.Indent(&b, j, "", "  "); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
		}
		b.WriteByte('\n')
		return b.Bytes(), nil
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	return y, nil
}

// FileName is the file an object is written to by WriteDir.
func FileName(o Object, format string) string {
	if format == "" {
		format = FormatYAML
	}
	return strings.ToLower(o.Kind) + "-" + o.Name + "." + format
}

// WriteDir writes one file per object into dir (created if needed) and
// returns the files' names.
func WriteDir(dir string, objs []Object, format string) ([]string, error) {
	if format != FormatYAML && format != FormatJSON && format != "" {
		return nil, fmt.Errorf("format %q: use yaml or json", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var names []string
	for _, o := range objs {
		doc, err := encodeOne(o, format)
		if err != nil {
			return nil, err
		}
		name := FileName(o, format)
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}
