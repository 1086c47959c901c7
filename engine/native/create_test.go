package native

import (
	"bytes"
	"testing"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// A container carries its image's labels under its own, and a memory
// limit without memswap_limit gets as much swap again, as the Docker
// daemon gives them (the translation table found both missing).
func TestRecordImageLabelsAndSwap(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		t.Fatal(err)
	}
	const ref = "hoist-test/labelled:latest"
	if _, err := b.Store().Import(ctx, &buf, ref, []string{`CMD ["sh"]`, "LABEL img=image over=image"}); err != nil {
		t.Fatal(err)
	}
	svc := testSpec("labels", "box", "true")
	svc.Image = ref
	svc.Service.Labels = map[string]string{"over": "service"}
	svc.Service.MemLimit = 32 << 20
	r, _, err := b.newRecord(ctx, svc.resolved())
	if err != nil {
		t.Fatal(err)
	}
	if r.Labels["img"] != "image" || r.Labels["over"] != "service" {
		t.Errorf("labels %v, want img=image (the image's) and over=service (the service's over the image's)", r.Labels)
	}
	if got := r.Spec.Resources.MemorySwapBytes; got != 64<<20 {
		t.Errorf("memory+swap %d, want twice the memory limit (%d)", got, 64<<20)
	}
}
