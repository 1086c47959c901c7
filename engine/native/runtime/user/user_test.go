package user

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n"), 0o644)
	for spec, want := range map[string]User{
		"":          {UID: 0, GID: 0, Groups: []int{0}, Home: "/root"},
		"app":       {UID: 1000, GID: 1000, Groups: []int{1000, 10, 29}, Home: "/home/app"},
		"1000":      {UID: 1000, GID: 1000, Groups: []int{1000, 10, 29}, Home: "/home/app"},
		"app:wheel": {UID: 1000, GID: 10, Groups: []int{10}, Home: "/home/app"},
		"4242":      {UID: 4242, GID: 0, Groups: []int{0}, Home: "/"},
		"4242:77":   {UID: 4242, GID: 77, Groups: []int{77}, Home: "/"},
	} {
		got, err := Resolve(root, spec, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	if _, err := Resolve(root, "ghost", nil); err == nil {
		t.Error("unknown user name accepted")
	}
}
