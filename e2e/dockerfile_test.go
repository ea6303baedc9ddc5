package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// finalStage returns a Dockerfile's last stage, from its last FROM on, without comments.
func finalStage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			lines = lines[:0]
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// TestDockerfilesInSync checks that the two ways to build the image build the same one: the
// multi-stage Dockerfile (a Go builder stage) and Dockerfile.prebuilt (make image, from a binary
// built on the host) have the same final stage, copying from a stage named rootfs that both lay
// out with scripts/image-rootfs.sh.
func TestDockerfilesInSync(t *testing.T) {
	multi, prebuilt := finalStage(t, "Dockerfile"), finalStage(t, "Dockerfile.prebuilt")
	if multi != prebuilt {
		t.Errorf("the final stages differ:\n--- Dockerfile\n%s\n--- Dockerfile.prebuilt\n%s", multi, prebuilt)
	}
	if !strings.HasPrefix(multi, "FROM scratch\n") {
		t.Errorf("the final stage does not start FROM scratch:\n%s", multi)
	}
	for name, want := range map[string]*regexp.Regexp{
		"Dockerfile":          regexp.MustCompile(`(?m)^RUN .*bash scripts/image-rootfs\.sh /rootfs$[\s\S]*^FROM scratch AS rootfs\nCOPY --from=build /rootfs/ /$`),
		"Dockerfile.prebuilt": regexp.MustCompile(`(?m)^FROM scratch AS rootfs\nCOPY \. /$`),
		"scripts/image.sh":    regexp.MustCompile(`(?m)bash scripts/image-rootfs\.sh "\$ctx"[\s\S]*-f Dockerfile\.prebuilt`),
	} {
		b, err := os.ReadFile(filepath.Join(repoRoot(), name))
		if err != nil {
			t.Fatal(err)
		}
		if !want.Match(b) {
			t.Errorf("%s does not match %s: the rootfs stage must come from scripts/image-rootfs.sh", name, want)
		}
	}
}
