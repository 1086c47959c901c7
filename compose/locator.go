package compose

// Locator gives the file and line of a service's key in a project's
// compose files, for problems found after loading (an engine that cannot
// honour a key), so that they read like the loader's own errors.
type Locator struct {
	docs sourceDocs
}

// NewLocator reads the compose files (types.Project.ComposeFiles). A file
// that cannot be read again leaves its keys unlocated.
func NewLocator(files []string) *Locator {
	var docs sourceDocs
	for _, f := range files {
		if d, err := parseFiles([]string{f}); err == nil {
			docs = append(docs, d...)
		}
	}
	return &Locator{docs: docs}
}

// ServiceKey is an *Error about the key at path below service, with the
// file and line where the key (or its nearest written parent) is set.
func (l *Locator) ServiceKey(service string, path []string, msg, hint string) *Error {
	e := &Error{Service: service, Msg: msg, Hint: hint}
	if len(l.docs) > 0 {
		e.File, e.Line = l.docs.locate(append([]string{"services", service}, path...))
	}
	return e
}
