package compose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/runspec"
)

func TestResolveSecretsAndConfigs(t *testing.T) {
	mode := types.FileMode(0o400)
	p := &types.Project{
		Environment: types.Mapping{"TOKEN": "s3cret"},
		Secrets: types.Secrets{
			"pw":    {File: "/src/pw.txt"},
			"token": {Environment: "TOKEN", Content: "s3cret"},
		},
		Configs: types.Configs{
			"nginx": {File: "/src/nginx.conf"},
			"motd":  {Content: "hello\n"},
		},
	}
	s := types.ServiceConfig{Name: "web"}
	s.Secrets = []types.ServiceSecretConfig{
		{Source: "pw"},
		{Source: "pw", Target: "db/password"},
		{Source: "token", Target: "/etc/token", UID: "1000", GID: "1001", Mode: &mode},
	}
	s.Configs = []types.ServiceConfigObjConfig{
		{Source: "nginx", Target: "/etc/nginx/nginx.conf"},
		{Source: "motd"},
	}
	c, err := Resolve(p, s, false)
	if err != nil {
		t.Fatal(err)
	}
	mounts, files := c.Mounts, c.Files
	var got []string
	for _, m := range mounts {
		got = append(got, string(m.Type)+" "+m.Source+" -> "+m.Target)
		if !m.ReadOnly || m.CreateHostPath {
			t.Errorf("mount %+v: want read-only, no host path creation", m)
		}
	}
	want := []string{"bind /src/pw.txt -> /run/secrets/pw", "bind /src/pw.txt -> /run/secrets/db/password", "bind /src/nginx.conf -> /etc/nginx/nginx.conf"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %v, want %v", got, want)
	}
	wantFiles := []runspec.File{
		{Path: "/etc/token", Content: []byte("s3cret"), Mode: 0o400, UID: 1000, GID: 1001},
		{Path: "/motd", Content: []byte("hello\n"), Mode: 0o444},
	}
	if !reflect.DeepEqual(files, wantFiles) {
		t.Errorf("files %+v, want %+v", files, wantFiles)
	}

	secret := func(src string) types.ServiceConfig {
		s := types.ServiceConfig{Name: "a"}
		s.Secrets = []types.ServiceSecretConfig{{Source: src}}
		return s
	}
	config := types.ServiceConfig{Name: "a"}
	config.Configs = []types.ServiceConfigObjConfig{{Source: "c", UID: "www"}}
	for name, c := range map[string]struct {
		p   types.Project
		s   types.ServiceConfig
		err string
	}{
		"external":  {types.Project{Secrets: types.Secrets{"x": {External: true}}}, secret("x"), `secret "x" is external`},
		"unset env": {types.Project{Secrets: types.Secrets{"x": {Environment: "NOPE"}}}, secret("x"), `environment variable "NOPE" is not set`},
		"bad uid":   {types.Project{Configs: types.Configs{"c": {Content: "x"}}}, config, `uid: "www" is not a number`},
	} {
		if _, err := Resolve(&c.p, c.s, false); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", name, err, c.err)
		}
	}
}
