package compose

// NewLocator reads the compose files (types.Project.ComposeFiles) again,
// for a caller that loaded the project without LoadLocated. A file that
// cannot be read again leaves its keys unlocated.
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
// file and line where the key (or its nearest written parent) is set, so
// that a problem found after loading (an engine that cannot honour a key)
// reads like the loader's own errors.
func (l *Locator) ServiceKey(service string, path []string, msg, hint string) *Error {
	e := &Error{Service: service, Msg: msg, Hint: hint}
	e.File, e.Line = l.Locate(append([]string{"services", service}, path...)...)
	return e
}
