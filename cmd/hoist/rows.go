package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
)

// rowField finds the fields a row template names, for its header.
var rowField = regexp.MustCompile(`\{\{[^}]*?\.(\w+)[^}]*\}\}`)

// rowTemplate parses a docker CLI --format for rows: "table" (def),
// "json", "table TEMPLATE" (a header from headers' titles, or the field
// name in capitals) or a template for each row; example is shown when
// the template is wrong.
func rowTemplate(format, def string, headers map[string]string, example string) (*template.Template, bool, error) {
	switch format {
	case "", "table":
		format = def
	case "json":
		format = "{{json .}}"
	}
	text, table := strings.CutPrefix(format, "table ")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	tmpl, err := template.New("row").Funcs(template.FuncMap{
		"json":  func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"join":  strings.Join,
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
		"split": strings.Split,
	}).Parse(text)
	if err != nil {
		return nil, false, fmt.Errorf("--format: %w; use table, json or a Go template such as %s", err, example)
	}
	if table {
		header := rowField.ReplaceAllStringFunc(text, func(action string) string {
			name := rowField.FindStringSubmatch(action)[1]
			if h, ok := headers[name]; ok {
				return h
			}
			return strings.ToUpper(name)
		})
		tmpl = template.Must(tmpl.New("header").Parse(header))
	}
	return tmpl, table, nil
}

// writeRows prints rows through tmpl, under a header as an aligned table
// when table is set (docker's tabwriter settings).
func writeRows(w io.Writer, tmpl *template.Template, table bool, rows []any) error {
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		if err := tmpl.ExecuteTemplate(tw, "header", nil); err != nil {
			return err
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rows {
		if err := tmpl.ExecuteTemplate(out, "row", r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
