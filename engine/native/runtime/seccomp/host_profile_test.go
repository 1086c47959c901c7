package seccomp

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

func TestSeccompTranslation(t *testing.T) {
	sets, err := conditionSets([]specs.LinuxSeccompArg{
		{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 0, Value: 2, Op: specs.OpEqualTo},
		{Index: 1, Value: 3, ValueTwo: 1, Op: specs.OpMaskedEqual},
	})
	// (a0==1 || a0==2) && a1&3==1 → two AND-sets.
	if err != nil || len(sets) != 2 || len(sets[0]) != 2 || sets[1][0].Value != 2 || sets[1][1] != (argTest{Index: 1, Op: opMaskedEQ, Mask: 3, Value: 1}) {
		t.Fatalf("condition sets %+v, %v", sets, err)
	}
	if _, err := conditionSets([]specs.LinuxSeccompArg{{Index: 6, Value: 1, Op: specs.OpEqualTo}}); err == nil {
		t.Error("argument index 6 must be refused")
	}
	def, _ := caps.For(false, nil, nil)
	for _, set := range []caps.Set{def, caps.All()} {
		if _, err := compileDefault(set); err != nil {
			t.Fatalf("compile for %x: %v", set, err)
		}
	}
}
