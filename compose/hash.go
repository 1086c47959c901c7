package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// hashVersion changes whenever the set of hashed fields changes, so an
// upgrade of hoist recreates containers once instead of mixing meanings.
const hashVersion = "hoist/1"

// ServiceHash returns the config hash stored on containers. Fields that never
// need a recreate are left out: scale, depends_on, profiles, build, pull
// policy and develop (watch rules).
func ServiceHash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	s.Develop = nil
	// Labels added by hoist itself are not user configuration.
	s.CustomLabels = nil
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("hash service %q: %w", s.Name, err)
	}
	h := sha256.New()
	h.Write([]byte(hashVersion))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}
