package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

// This file is the package's own reader of bbolt's file format (version 2), used to vouch for a
// data file before bbolt maps it, and by Verify and Store.Verify.
//
// Why not only bbolt's tx.Check: bbolt reads the file through a memory map and trusts what it
// reads. A damaged page pointer or element offset makes it read outside the map (SIGSEGV), a
// truncated file makes it read past the end of the file (SIGBUS), a damaged freelist makes Open
// panic, and a page pointing back at an ancestor makes its recursive walks (tx.Check's included)
// recurse until the stack limit kills the process. tx.Check also runs in a goroutine of its own,
// where no recover or SetPanicOnFault of ours can reach. This reader uses pread into
// bounds-checked buffers and visits each page at most once, so damage can only ever become a
// problem in its report. It checks everything tx.Check does (page types, one reference per page,
// no page both in use and free, every page below the high-water mark in use or free, key order
// within a page and against the parent's keys) and also both meta pages, the file's length, the
// buckets this package uses and every record's checksum. Only a file it passes is handed to bbolt,
// whose tx.Check then runs on it as a second opinion.
//
// The layout read here is bbolt's on-disk format, unchanged since bbolt 1.0 (page header: id
// uint64, flags uint16, count uint16, overflow uint32; meta, branch and leaf elements as in
// go.etcd.io/bbolt/internal/common), in the machine's byte order as bbolt writes it. A test
// (TestReaderAgreesWithBbolt) keeps the two in step.

const (
	bbMagic        = 0xED0CDAED
	bbVersion      = 2
	pageHeaderSize = 16
	elementSize    = 16 // branch and leaf elements alike
	inBucketSize   = 16 // root pgid, sequence
	metaSumOffset  = 56 // the meta's checksum covers the 56 bytes before it
	metaSize       = 64

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10

	leafFlagBucket = 0x01

	noFreelist = ^uint64(0)

	// maxDepth bounds the nesting of pages and buckets. bbolt's trees here are a few levels deep;
	// deeper means damage (a cycle cannot happen: no page is visited twice).
	maxDepth = 64
	// maxProblems is how many problems a report lists; it counts the rest.
	maxProblems = 20
)

var ne = binary.NativeEndian

// Report is what a check of a data file found.
type Report struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`      // bytes
	PageSize int    `json:"page_size"` // bytes
	TxID     uint64 `json:"txid"`      // the newest commit, as its meta page says
	Pages    uint64 `json:"pages"`     // the high-water mark: pages in use or free
	Free     int    `json:"free"`      // pages in the freelist
	Tenants  int    `json:"tenants"`   // records in the settings bucket
	// Format is the record format: 2 for this code's, 1 for an earlier version's (upgraded at the
	// first Open), 0 for a database without buckets yet.
	Format int `json:"format"`
	// Problems lists what is wrong, at most maxProblems of it; Omitted counts the rest.
	Problems []string `json:"problems,omitempty"`
	Omitted  int      `json:"omitted,omitempty"`
	// Live is set when the report is of a running server's file, made inside that server.
	Live bool `json:"live,omitempty"`
}

// OK reports whether the check found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err returns nil for a clean report, else a *DamageError that names the file and the first
// problem.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	problem := r.Problems[0]
	if more := len(r.Problems) - 1 + r.Omitted; more > 0 {
		problem += fmt.Sprintf(" (and %d more problem%s)", more, plural(more))
	}
	return &DamageError{Path: r.Path, Problem: "is damaged: " + problem, Report: r}
}

func (r *Report) problemf(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ErrDamaged is wrapped by every error that refuses a data file, or a record, that this package
// cannot vouch for: an existing empty file, a damaged one, one older than its commit record.
var ErrDamaged = errors.New("data file damaged")

// DamageError refuses a data file. Its message reads `data file "PATH" PROBLEM`, PROBLEM being
// for instance "is empty (0 bytes)" or "is damaged: page 7: ...".
type DamageError struct {
	// Kind is what Path is: "data file" when empty, or "commit record".
	Kind    string
	Path    string
	Problem string
	// Report is the check that found the problem, if a check did.
	Report *Report
	// Stale is set when the file is intact but older than its commit record, or missing while
	// the record exists: a backup restored by hand, or the wrong copy put back.
	Stale bool
}

func (e *DamageError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "data file"
	}
	return fmt.Sprintf("%s %q %s", kind, e.Path, e.Problem)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// meta is one of bbolt's two meta pages.
type meta struct {
	pageSize uint32
	flags    uint32
	root     uint64 // the root bucket's page
	sequence uint64
	freelist uint64
	pgid     uint64 // high-water mark
	txid     uint64
}

// parseMeta reads the meta page of page index idx from b, the page's bytes.
func parseMeta(b []byte, idx uint64) (meta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, errors.New("cut short")
	}
	m := b[pageHeaderSize:]
	if ne.Uint32(m[0:]) != bbMagic {
		return meta{}, errors.New("no bbolt magic number")
	}
	if v := ne.Uint32(m[4:]); v != bbVersion {
		return meta{}, fmt.Errorf("bbolt format version %d, want %d", v, bbVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if h.Sum64() != ne.Uint64(m[metaSumOffset:]) {
		return meta{}, errors.New("fails its checksum")
	}
	// The checksum matched: what follows is what bbolt itself never writes.
	if id, flags := ne.Uint64(b[0:]), ne.Uint16(b[8:]); id != idx || flags != flagMeta {
		return meta{}, fmt.Errorf("its header says page %d with flags %#x", id, flags)
	}
	return meta{
		pageSize: ne.Uint32(m[8:]),
		flags:    ne.Uint32(m[12:]),
		root:     ne.Uint64(m[16:]),
		sequence: ne.Uint64(m[24:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, nil
}

// checker walks one data file.
type checker struct {
	r      io.ReaderAt
	report *Report
	ps     int
	hwm    uint64
	reach  []bool // page in use (reachable from the newest meta)
	free   []bool // page in the freelist
	// record is called with each record of the settings bucket that passes its checks, unless nil.
	record func(key []byte, p parsed)
	// page, when set (by tests), is called with each page in use, after its checks passed.
	page func(id uint64, b []byte)
	// spare holds page buffers done with, for read to reuse: a check reads every page once.
	spare [][]byte
}

// check reads the file r (size bytes long) and returns what it found. It never fails: problems,
// read errors included, are in the report.
func check(r io.ReaderAt, path string, size int64, record func(key []byte, p parsed)) *Report {
	c := &checker{r: r, report: &Report{Path: path, Size: size}, record: record}
	c.run()
	return c.report
}

func (c *checker) problemf(format string, args ...any) { c.report.problemf(format, args...) }

func (c *checker) run() {
	if c.report.Size == 0 {
		c.report.problemf("the file is empty (0 bytes)")
		return
	}
	if m, ok := c.metas(); ok {
		c.walk(m)
	}
}

// walk checks everything the newest meta page m leads to.
func (c *checker) walk(m meta) {
	rep := c.report
	c.ps, c.hwm = int(m.pageSize), m.pgid
	rep.PageSize, rep.TxID, rep.Pages = c.ps, m.txid, m.pgid
	if need := int64(m.pgid) * int64(c.ps); m.pgid > 1<<40 || need > rep.Size {
		rep.problemf("the file is cut short: %d bytes, but its newest commit (%d) uses %d pages of %d bytes (%d bytes)",
			rep.Size, m.txid, m.pgid, c.ps, need)
		return
	}
	if m.pgid < 4 || m.root < 2 || m.root >= m.pgid {
		rep.problemf("meta page of commit %d: root page %d outside pages 2..%d", m.txid, m.root, m.pgid-1)
		return
	}
	c.reach = make([]bool, m.pgid)
	c.free = make([]bool, m.pgid)
	c.reach[0], c.reach[1] = true, true
	c.freelist(m)
	c.rootBucket(m)
	for id := uint64(2); id < c.hwm; id++ {
		if !c.reach[id] && !c.free[id] {
			c.problemf("page %d is neither in use nor free", id)
		}
	}
}

// metas reads both meta pages and returns the newest. Both must be valid: bbolt would silently
// fall back to the older one when the newest is damaged, losing the newest commit, and it cannot
// tell that case from a harmless damaged older one. A crash cannot leave a meta page that fails
// its checksum on a disk that writes a sector at a time, which every disk does; see the package
// documentation.
func (c *checker) metas() (meta, bool) {
	rep := c.report
	first := make([]byte, 4096)
	n, err := c.r.ReadAt(first, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		rep.problemf("reading meta page 0: %v", err)
		return meta{}, false
	}
	m0, err0 := parseMeta(first[:n], 0)
	ps := int(m0.pageSize)
	if err0 != nil {
		// The page size is in the meta page itself: try every size bbolt could have used.
		for size := 1024; size <= 1<<16 && int64(size)+pageHeaderSize+metaSize <= rep.Size; size *= 2 {
			b := make([]byte, pageHeaderSize+metaSize)
			if _, err := c.r.ReadAt(b, int64(size)); err == nil {
				if m1, err := parseMeta(b, 1); err == nil && int(m1.pageSize) == size {
					ps = size
					break
				}
			}
		}
	}
	if ps < 1024 || ps > 1<<16 || ps&(ps-1) != 0 {
		if err0 != nil {
			rep.problemf("meta page 0 %v, and no valid meta page 1 was found: not a bbolt data file, or both meta pages are damaged", err0)
		} else {
			rep.problemf("meta page 0: page size %d", ps)
		}
		return meta{}, false
	}
	second := make([]byte, ps)
	n, err = c.r.ReadAt(second, int64(ps))
	if err != nil && !errors.Is(err, io.EOF) {
		rep.problemf("reading meta page 1: %v", err)
		return meta{}, false
	}
	m1, err1 := parseMeta(second[:n], 1)
	switch {
	case err0 != nil && err1 != nil:
		rep.problemf("both meta pages are damaged: page 0 %v, page 1 %v", err0, err1)
		return meta{}, false
	case err0 != nil:
		rep.problemf("meta page 0 %v; meta page 1 holds commit %d. If page 0 held commit %d, bbolt would silently lose it", err0, m1.txid, m1.txid+1)
		return meta{}, false
	case err1 != nil:
		rep.problemf("meta page 1 %v; meta page 0 holds commit %d. If page 1 held commit %d, bbolt would silently lose it", err1, m0.txid, m0.txid+1)
		return meta{}, false
	case m0.pageSize != m1.pageSize:
		rep.problemf("the meta pages disagree on the page size: %d and %d", m0.pageSize, m1.pageSize)
		return meta{}, false
	case m0.txid != m1.txid+1 && m1.txid != m0.txid+1:
		rep.problemf("the meta pages hold commits %d and %d, which are not consecutive", m0.txid, m1.txid)
		return meta{}, false
	}
	if m1.txid > m0.txid {
		return m1, true
	}
	return m0, true
}

// read returns the bytes of page id and its overflow pages, after checking that the page is in
// the file's range. from says where the reference came from, for messages.
func (c *checker) read(id uint64, from string) ([]byte, bool) {
	if id < 2 || id >= c.hwm {
		c.problemf("%s points to page %d, outside pages 2..%d", from, id, c.hwm-1)
		return nil, false
	}
	var b []byte
	if n := len(c.spare); n > 0 {
		b, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		b = make([]byte, c.ps)
	}
	if _, err := c.r.ReadAt(b, int64(id)*int64(c.ps)); err != nil {
		c.problemf("reading page %d: %v", id, err)
		return nil, false
	}
	if got := ne.Uint64(b[0:]); got != id {
		c.problemf("page %d says it is page %d", id, got)
		return nil, false
	}
	if ov := uint64(ne.Uint32(b[12:])); ov > 0 {
		if id+ov >= c.hwm {
			c.problemf("page %d: %d overflow pages run past page %d", id, ov, c.hwm-1)
			return nil, false
		}
		b = append(b, make([]byte, int(ov)*c.ps)...)
		if _, err := c.r.ReadAt(b[c.ps:], int64(id+1)*int64(c.ps)); err != nil {
			c.problemf("reading page %d: %v", id, err)
			return nil, false
		}
	}
	return b, true
}

// use marks page id and its overflow pages in use.
func (c *checker) use(id uint64, overflow uint32) bool {
	ok := true
	for i := id; i <= id+uint64(overflow); i++ {
		if c.reach[i] {
			c.problemf("page %d is referenced twice", i)
			ok = false
		}
		if c.free[i] {
			c.problemf("page %d is in use and also in the freelist", i)
			ok = false
		}
		c.reach[i] = true
	}
	return ok
}

func (c *checker) freelist(m meta) {
	if m.freelist == noFreelist {
		c.problemf("the newest commit has no freelist (this package always writes one)")
		return
	}
	b, ok := c.read(m.freelist, fmt.Sprintf("the meta page of commit %d", m.txid))
	if !ok {
		return
	}
	if flags := ne.Uint16(b[8:]); flags != flagFreelist {
		c.problemf("page %d should be the freelist, but its flags are %#x", m.freelist, flags)
		return
	}
	if !c.use(m.freelist, ne.Uint32(b[12:])) {
		return
	}
	start, count := pageHeaderSize, uint64(ne.Uint16(b[10:]))
	if count == 0xFFFF {
		count = ne.Uint64(b[pageHeaderSize:])
		start += 8
	}
	if count > uint64(len(b)-start)/8 {
		c.problemf("freelist page %d: %d ids do not fit in the page", m.freelist, count)
		return
	}
	for i := range count {
		id := ne.Uint64(b[start+int(i)*8:])
		switch {
		case id < 2 || id >= c.hwm:
			c.problemf("freelist page %d: free page %d is outside pages 2..%d", m.freelist, id, c.hwm-1)
		case c.free[id]:
			c.problemf("freelist page %d: page %d is free twice", m.freelist, id)
		case c.reach[id]:
			c.problemf("page %d is in use and also in the freelist", id)
		default:
			c.free[id] = true
			c.report.Free++
		}
	}
}

// bucket kinds, which say what the leaves of a tree hold.
const (
	kindRoot     = iota // this package's buckets
	kindSettings        // tenant records
	kindMeta            // the format marker and the probe
)

var (
	bucketSettings = []byte("settings")
	bucketMeta     = []byte("meta")
	keyFormat      = []byte("format")
	keyProbe       = []byte("probe")
)

// rootBucket walks the root bucket: it holds this package's buckets and nothing else.
func (c *checker) rootBucket(m meta) {
	var settings, metaBucket bool
	c.tree(m.root, fmt.Sprintf("the meta page of commit %d", m.txid), nil, nil, 0, func(key, value []byte, flags uint32, depth int) {
		if flags != leafFlagBucket {
			c.problemf("the root bucket holds a value under %q: this package keeps only buckets there", key)
			return
		}
		switch {
		case bytes.Equal(key, bucketSettings):
			// Keys are in order: the meta bucket, when there is one, was walked already.
			settings = true
			if !metaBucket {
				c.report.Format = 1
			}
			c.bucket(key, value, kindSettings, depth)
		case bytes.Equal(key, bucketMeta):
			metaBucket = true
			c.bucket(key, value, kindMeta, depth)
		default:
			c.problemf("the root bucket holds an unknown bucket %q: not a remoteassist data file", key)
		}
	})
	switch {
	case metaBucket && c.report.Format == 0:
		c.problemf("the meta bucket has no format marker")
	case metaBucket && !settings:
		c.problemf("the settings bucket is missing")
	}
}

// bucket walks a bucket whose header (inBucket, then an inline page when its root is 0) is
// value.
func (c *checker) bucket(name, value []byte, kind, depth int) {
	if len(value) < inBucketSize {
		c.problemf("bucket %q: its header is %d bytes", name, len(value))
		return
	}
	root, seq := ne.Uint64(value[0:]), ne.Uint64(value[8:])
	if seq != 0 {
		// This package never uses a bucket's sequence: a set one is a damaged header.
		c.problemf("bucket %q: sequence %d, but this package never sets one", name, seq)
	}
	leaf := func(key, v []byte, flags uint32, _ int) { c.entry(name, kind, key, v, flags) }
	if root == 0 {
		inline := value[inBucketSize:]
		where := fmt.Sprintf("the inline page of bucket %q", name)
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != flagLeaf {
			c.problemf("%s is not a leaf page", where)
			return
		}
		c.elements(inline, 0, where, nil, nil, depth+1, leaf)
		return
	}
	c.tree(root, fmt.Sprintf("bucket %q", name), nil, nil, depth+1, leaf)
}

// entry checks one key/value of a bucket of this package.
func (c *checker) entry(bucket []byte, kind int, key, v []byte, flags uint32) {
	if flags != 0 {
		c.problemf("bucket %q holds a sub-bucket or unknown flags (%#x) under %q", bucket, flags, key)
		return
	}
	switch kind {
	case kindSettings:
		c.report.Tenants++
		if len(key) == 0 {
			c.problemf("a record has an empty tenant")
			return
		}
		if c.report.Format == 1 {
			// An earlier version's record: no checksum, so only its strict decoding checks it.
			// Open upgrades the file (migrate) once it passed.
			if _, err := decodeV1(string(key), v); err != nil {
				c.problemf("the record of tenant %s (format 1): %v", quoteKey(key), err)
			}
			return
		}
		p, err := parse(key, v)
		if err != nil {
			c.problemf("the record of tenant %s: %v", quoteKey(key), err)
			return
		}
		if c.record != nil {
			c.record(key, p)
		}
	case kindMeta:
		switch {
		case bytes.Equal(key, keyFormat):
			if len(v) != 1 || v[0] != recordVersion {
				c.problemf("format marker %q: this code reads format %d only (a newer version wrote the file, or it is damaged)", v, recordVersion)
				return
			}
			c.report.Format = recordVersion
		case bytes.Equal(key, keyProbe):
			if len(v) != 8 {
				c.problemf("the probe record is %d bytes, want 8", len(v))
			}
		default:
			c.problemf("the meta bucket holds an unknown key %q", key)
		}
	}
}

// quoteKey renders a tenant for a message: quoted, and cut if long (a damaged key may be).
func quoteKey(key []byte) string {
	if len(key) > 80 {
		return fmt.Sprintf("%q…", key[:80])
	}
	return fmt.Sprintf("%q", key)
}

// tree walks the page tree rooted at page id, whose keys must lie in [lo, hi) (nil: unbounded),
// and calls leaf for each leaf element.
func (c *checker) tree(id uint64, from string, lo, hi []byte, depth int, leaf func(key, value []byte, flags uint32, depth int)) {
	if depth > maxDepth {
		c.problemf("%s: pages nested more than %d deep", from, maxDepth)
		return
	}
	b, ok := c.read(id, from)
	if !ok {
		return
	}
	if !c.use(id, ne.Uint32(b[12:])) {
		return
	}
	if c.page != nil {
		c.page(id, b)
	}
	c.elements(b, id, fmt.Sprintf("page %d", id), lo, hi, depth, leaf)
	if len(b) == c.ps {
		c.spare = append(c.spare, b) // nothing refers to it once its elements are walked
	}
}

// elements checks the elements of one branch or leaf page (b, its bytes; id, 0 for an inline
// page) and walks on.
func (c *checker) elements(b []byte, id uint64, where string, lo, hi []byte, depth int, leaf func(key, value []byte, flags uint32, depth int)) {
	if len(b) < pageHeaderSize {
		c.problemf("%s: cut short", where)
		return
	}
	flags, count := ne.Uint16(b[8:]), int(ne.Uint16(b[10:]))
	if flags != flagBranch && flags != flagLeaf {
		c.problemf("%s should be a branch or leaf page, but its flags are %#x", where, flags)
		return
	}
	if pageHeaderSize+count*elementSize > len(b) {
		c.problemf("%s: %d elements do not fit in the page", where, count)
		return
	}
	if flags == flagBranch && count == 0 {
		c.problemf("%s: a branch page without elements", where)
		return
	}
	type child struct {
		key []byte
		id  uint64
	}
	var children []child
	var prev []byte
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := b[off:]
		var pos, ksize, vsize uint64
		var eflags uint32
		if flags == flagBranch {
			pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
		} else {
			eflags = ne.Uint32(e[0:])
			pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		}
		start := uint64(off) + pos
		end := start + ksize + vsize
		if ksize == 0 || end > uint64(len(b)) || start < uint64(pageHeaderSize+count*elementSize) {
			c.problemf("%s: element %d (offset %d, key %d bytes, value %d bytes) lies outside the page's data", where, i, pos, ksize, vsize)
			return
		}
		key := b[start : start+ksize]
		switch {
		case prev != nil && bytes.Compare(prev, key) >= 0:
			c.problemf("%s: key %d (%s) is not after key %d (%s)", where, i, quoteKey(key), i-1, quoteKey(prev))
			return
		case lo != nil && bytes.Compare(key, lo) < 0:
			c.problemf("%s: key %d (%s) is before its parent's key %s", where, i, quoteKey(key), quoteKey(lo))
			return
		case hi != nil && bytes.Compare(key, hi) >= 0:
			c.problemf("%s: key %d (%s) is not before the parent's next key %s", where, i, quoteKey(key), quoteKey(hi))
			return
		}
		prev = key
		if flags == flagBranch {
			children = append(children, child{key, ne.Uint64(e[8:])})
			continue
		}
		leaf(key, b[start+ksize:end], eflags, depth)
	}
	for i, ch := range children {
		next := hi
		if i+1 < len(children) {
			next = children[i+1].key
		}
		c.tree(ch.id, fmt.Sprintf("%s, element %d,", where, i), ch.key, next, depth+1, leaf)
	}
}

// String renders a report for people: one line per fact, then the problems.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "file      %s\n", r.Path)
	fmt.Fprintf(&b, "size      %d bytes, %d pages of %d bytes (%d free)\n", r.Size, r.Pages, r.PageSize, r.Free)
	fmt.Fprintf(&b, "commit    %d\n", r.TxID)
	fmt.Fprintf(&b, "tenants   %d\n", r.Tenants)
	fmt.Fprintf(&b, "format    %d\n", r.Format)
	if r.OK() {
		b.WriteString("result    ok: every page and every record checks\n")
		return b.String()
	}
	fmt.Fprintf(&b, "result    DAMAGED, %d problem%s:\n", len(r.Problems)+r.Omitted, plural(len(r.Problems)+r.Omitted))
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	if r.Omitted > 0 {
		fmt.Fprintf(&b, "  - and %d more\n", r.Omitted)
	}
	return b.String()
}
