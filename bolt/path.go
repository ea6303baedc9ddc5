package bolt

import (
	"bytes"
	"fmt"
	"sort"
	"unsafe"

	"go.etcd.io/bbolt"
)

// The path check: before bbolt looks a key up (Bucket.Get, Bucket.Put, Tx.Bucket), the pages it
// will walk are checked with the reader of verify.go, through bounds-checked slices of bbolt's
// memory map. bbolt's descent trusts every page: a damaged page id or element offset makes it read
// outside the map, which SetPanicOnFault turns into a recoverable panic, but a page damaged into a
// cycle (a branch pointing back at an ancestor) makes it recurse, or loop, until the process dies
// of its stack or its memory, which nothing can recover. The check follows the search bbolt makes
// (the same binary searches over the same elements), at most maxDepth pages deep, so a damaged
// path becomes an error for that request. It costs one more descent of a few pages per lookup.

// pathChecker walks the pages of lookups in one transaction, in the bytes of bbolt's memory map
// that the transaction may read: its pages below the high-water mark. They stay valid while the
// transaction is open (a read transaction holds the map; a write transaction's function runs
// before its commit can remap).
type pathChecker struct {
	data []byte
	ps   uint64
	// full checks every element of each page on the path, as bbolt reads them all when it turns a
	// page into a node for a write; a read only needs the elements its binary search probes.
	full bool
}

func newPathChecker(db *bbolt.DB, tx *bbolt.Tx, full bool) pathChecker {
	info := db.Info()
	// The map is not Go memory: reinterpret the address bbolt gives rather than convert a uintptr
	// expression, which vet rightly distrusts for Go memory.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	return pathChecker{data: unsafe.Slice((*byte)(p), tx.Size()), ps: uint64(info.PageSize), full: full}
}

// bucket checks the path to a bucket's entry in the root bucket, which Tx.Bucket follows, and
// returns the bucket's header (its root page, or 0 and an inline page, checked too).
func (pc pathChecker) bucket(tx *bbolt.Tx, name []byte) ([]byte, error) {
	root := uint64(tx.Cursor().Bucket().Root())
	v, flags, ok, err := pc.lookup(root, name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("the root bucket: %w", err)
	case !ok || flags != leafFlagBucket:
		return nil, fmt.Errorf("the root bucket has no %s bucket", name)
	case len(v) < inBucketSize:
		return nil, fmt.Errorf("the %s bucket's header is %d bytes", name, len(v))
	}
	if ne.Uint64(v) == 0 {
		if err := pc.page(v[inBucketSize:], 0, true); err != nil {
			return nil, fmt.Errorf("the inline page of the %s bucket: %w", name, err)
		}
	}
	return v, nil
}

// key checks the path to key in the bucket whose header is hdr.
func (pc pathChecker) key(hdr, key []byte) error {
	root := ne.Uint64(hdr)
	if root == 0 {
		return nil // an inline bucket: one page, checked by bucket
	}
	if _, _, _, err := pc.lookup(root, key); err != nil {
		return err
	}
	return nil
}

// freelist checks, for a write transaction on commit base, the freelist page bbolt reads when it
// commits (it frees that page and its overflow pages one by one: a damaged overflow count would
// have it free billions of them) and when it rolls back (it reloads the page).
func (pc pathChecker) freelist(base uint64) error {
	var m meta
	found := false
	for page := uint64(0); page < 2; page++ {
		if mm, err := parseMeta(pc.data[page*pc.ps:(page+1)*pc.ps], page); err == nil && mm.txid == base {
			m, found = mm, true
		}
	}
	if !found {
		return fmt.Errorf("no valid meta page holds commit %d", base)
	}
	hwm := uint64(len(pc.data)) / pc.ps
	id := m.freelist
	if id < 2 || id >= hwm {
		return fmt.Errorf("the freelist is page %d, outside pages 2..%d", id, hwm-1)
	}
	b := pc.data[id*pc.ps : (id+1)*pc.ps]
	ov := uint64(ne.Uint32(b[12:]))
	switch {
	case ne.Uint64(b) != id:
		return fmt.Errorf("freelist page %d says it is page %d", id, ne.Uint64(b))
	case ne.Uint16(b[8:]) != flagFreelist:
		return fmt.Errorf("freelist page %d has flags %#x", id, ne.Uint16(b[8:]))
	case id+ov >= hwm:
		return fmt.Errorf("freelist page %d: %d overflow pages run past the end", id, ov)
	}
	count, start := uint64(ne.Uint16(b[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count, start = ne.Uint64(b[pageHeaderSize:]), start+8
	}
	if count > ((ov+1)*pc.ps-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit in it", id, count)
	}
	return nil
}

// lookup follows bbolt's search for key from page id down to a leaf, checking each page on the
// way, and returns the leaf element bbolt would find, if its key is key.
func (pc pathChecker) lookup(id uint64, key []byte) (value []byte, flags uint32, found bool, err error) {
	hwm := uint64(len(pc.data)) / pc.ps
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return nil, 0, false, fmt.Errorf("pages nested more than %d deep (a cycle)", maxDepth)
		}
		if id < 2 || id >= hwm {
			return nil, 0, false, fmt.Errorf("a page points to page %d, outside pages 2..%d", id, hwm-1)
		}
		b := pc.data[id*pc.ps : (id+1)*pc.ps]
		if got := ne.Uint64(b); got != id {
			return nil, 0, false, fmt.Errorf("page %d says it is page %d", id, got)
		}
		if ov := uint64(ne.Uint32(b[12:])); ov > 0 {
			if id+ov >= hwm {
				return nil, 0, false, fmt.Errorf("page %d: %d overflow pages run past the end", id, ov)
			}
			b = pc.data[id*pc.ps : (id+1+ov)*pc.ps]
		}
		if err := pc.page(b, id, false); err != nil {
			return nil, 0, false, err
		}
		count := int(ne.Uint16(b[10:]))
		var bad error
		keyAt := func(i int) []byte {
			k, _, _, err := element(b, i, count)
			if err != nil && bad == nil {
				bad = fmt.Errorf("page %d: %w", id, err)
			}
			return k
		}
		if ne.Uint16(b[8:]) == flagLeaf {
			i := sort.Search(count, func(i int) bool { return bytes.Compare(keyAt(i), key) != -1 })
			if bad != nil {
				return nil, 0, false, bad
			}
			if i == count {
				return nil, 0, false, nil
			}
			k, v, f, err := element(b, i, count)
			if err != nil {
				return nil, 0, false, fmt.Errorf("page %d: %w", id, err)
			}
			return v, f, bytes.Equal(k, key), nil
		}
		exact := false
		i := sort.Search(count, func(i int) bool {
			c := bytes.Compare(keyAt(i), key)
			exact = exact || c == 0
			return c != -1
		})
		if bad != nil {
			return nil, 0, false, bad
		}
		if !exact && i > 0 {
			i--
		}
		if i >= count {
			return nil, 0, false, fmt.Errorf("page %d: search ran past its elements", id)
		}
		id = ne.Uint64(b[pageHeaderSize+i*elementSize+8:])
	}
}

// page checks the header of a branch or leaf page b (id, 0 for an inline page, which must be a
// leaf): its type, that its elements fit, and, when full or inline, every element.
func (pc pathChecker) page(b []byte, id uint64, inline bool) error {
	if len(b) < pageHeaderSize {
		return fmt.Errorf("page %d is cut short", id)
	}
	flags, count := ne.Uint16(b[8:]), int(ne.Uint16(b[10:]))
	switch {
	case flags != flagLeaf && (flags != flagBranch || inline):
		return fmt.Errorf("page %d should be a branch or leaf page, but its flags are %#x", id, flags)
	case pageHeaderSize+count*elementSize > len(b):
		return fmt.Errorf("page %d: %d elements do not fit in the page", id, count)
	case flags == flagBranch && count == 0:
		return fmt.Errorf("page %d: a branch page without elements", id)
	}
	if pc.full || inline {
		for i := range count {
			if _, _, _, err := element(b, i, count); err != nil {
				return fmt.Errorf("page %d: %w", id, err)
			}
		}
	}
	return nil
}

// element returns element i of a branch or leaf page of count elements, checking that it lies
// inside the page's data.
func element(b []byte, i, count int) (key, value []byte, flags uint32, err error) {
	off := pageHeaderSize + i*elementSize
	e := b[off : off+elementSize]
	var pos, ksize, vsize uint64
	if ne.Uint16(b[8:]) == flagBranch {
		pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
	} else {
		flags = ne.Uint32(e[0:])
		pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
	}
	start := uint64(off) + pos
	end := start + ksize + vsize
	if ksize == 0 || end > uint64(len(b)) || start < uint64(pageHeaderSize+count*elementSize) {
		return nil, nil, 0, fmt.Errorf("element %d lies outside the page's data", i)
	}
	return b[start : start+ksize], b[start+ksize : end], flags, nil
}
