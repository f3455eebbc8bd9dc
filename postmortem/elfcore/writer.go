package elfcore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Load is a PT_LOAD segment to write: Filesz bytes produced by Fill (at
// most Memsz; the rest reads as zeros).
type Load struct {
	Vaddr, Memsz, Filesz uint64
	Flags                uint32
	// Fill writes the segment's Filesz bytes to w.
	Fill func(w io.Writer) error
}

// Image is what Write puts in a core.
type Image struct {
	Threads []Thread
	Psinfo  Psinfo
	Siginfo *Siginfo
	Auxv    []uint64 // key, value pairs as the process holds them
	Files   []FileMapping
	Loads   []Load
}

// Write writes an ELF core that Linux tools, delve and Open read: one
// PT_NOTE (NT_PRSTATUS per thread, NT_PRPSINFO, NT_SIGINFO if given,
// NT_AUXV, NT_FILE) and the PT_LOADs, data page-aligned. It returns the
// bytes written.
func Write(w io.Writer, img *Image) (int64, error) {
	notes := img.notes()
	const ehdr, phent = 64, 56
	nph := 1 + len(img.Loads)
	noteOff := uint64(ehdr + phent*nph)
	dataOff := (noteOff + uint64(len(notes)) + 4095) &^ 4095
	le := binary.LittleEndian
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}

	h := make([]byte, ehdr)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1 // 64-bit, little-endian, version
	le.PutUint16(h[16:], 4)    // ET_CORE
	le.PutUint16(h[18:], 62)   // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], ehdr) // phoff
	le.PutUint16(h[52:], ehdr)
	le.PutUint16(h[54:], phent)
	le.PutUint16(h[56:], uint16(nph))
	cw.Write(h)

	ph := make([]byte, phent)
	le.PutUint32(ph[0:], 4) // PT_NOTE
	le.PutUint64(ph[8:], noteOff)
	le.PutUint64(ph[32:], uint64(len(notes)))
	le.PutUint64(ph[48:], 4)
	cw.Write(ph)
	off := dataOff
	for _, l := range img.Loads {
		ph := make([]byte, phent)
		le.PutUint32(ph[0:], 1) // PT_LOAD
		le.PutUint32(ph[4:], l.Flags)
		le.PutUint64(ph[8:], off)
		le.PutUint64(ph[16:], l.Vaddr)
		le.PutUint64(ph[32:], l.Filesz)
		le.PutUint64(ph[40:], l.Memsz)
		le.PutUint64(ph[48:], 4096)
		cw.Write(ph)
		off += (l.Filesz + 4095) &^ 4095
	}
	cw.Write(notes)
	cw.pad(dataOff)
	off = dataOff
	for i, l := range img.Loads {
		if l.Filesz > 0 {
			start := cw.n
			if err := l.Fill(cw); err != nil {
				return cw.n, fmt.Errorf("segment %d at %#x: %w", i, l.Vaddr, err)
			}
			if uint64(cw.n-start) != l.Filesz {
				return cw.n, fmt.Errorf("segment %d at %#x: wrote %d bytes, want %d", i, l.Vaddr, cw.n-start, l.Filesz)
			}
		}
		off += (l.Filesz + 4095) &^ 4095
		cw.pad(off)
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, bw.Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

var zeroPage [4096]byte

func (c *countWriter) pad(to uint64) {
	for uint64(c.n) < to && c.err == nil {
		k := to - uint64(c.n)
		if k > 4096 {
			k = 4096
		}
		c.Write(zeroPage[:k])
	}
}

func (img *Image) notes() []byte {
	le := binary.LittleEndian
	var out []byte
	add := func(typ uint32, desc []byte) {
		h := make([]byte, 12)
		le.PutUint32(h, 5) // "CORE\0"
		le.PutUint32(h[4:], uint32(len(desc)))
		le.PutUint32(h[8:], typ)
		out = append(out, h...)
		out = append(out, "CORE\x00\x00\x00\x00"...)
		out = append(out, desc...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	ps := make([]byte, 136)
	ps[0] = img.Psinfo.State
	ps[1] = "RSDTZW"[min(int(img.Psinfo.State), 5)]
	le.PutUint32(ps[16:], uint32(img.Psinfo.UID))
	le.PutUint32(ps[20:], uint32(img.Psinfo.GID))
	le.PutUint32(ps[24:], uint32(img.Psinfo.PID))
	le.PutUint32(ps[28:], uint32(img.Psinfo.PPID))
	copy(ps[40:55], img.Psinfo.Fname)
	copy(ps[56:135], img.Psinfo.Args)
	// The kernel writes the first thread's NT_PRSTATUS, then the process
	// notes, then the other threads; readers take the first as current.
	for i, t := range img.Threads {
		d := make([]byte, 336)
		le.PutUint16(d[12:], uint16(t.Signal))
		le.PutUint32(d[32:], uint32(t.TID))
		le.PutUint32(d[36:], uint32(img.Psinfo.PPID))
		le.PutUint64(d[48:], uint64(t.UTime/1e6))
		le.PutUint64(d[56:], uint64(t.UTime%1e6))
		le.PutUint64(d[64:], uint64(t.STime/1e6))
		le.PutUint64(d[72:], uint64(t.STime%1e6))
		for j, r := range t.Regs {
			le.PutUint64(d[112+8*j:], r)
		}
		add(NTPrstatus, d)
		if i == 0 {
			add(NTPrpsinfo, ps)
			if s := img.Siginfo; s != nil {
				si := make([]byte, 128)
				le.PutUint32(si[0:], uint32(s.Signo))
				le.PutUint32(si[4:], uint32(s.Errno))
				le.PutUint32(si[8:], uint32(s.Code))
				le.PutUint64(si[16:], s.Addr)
				add(NTSiginfo, si)
			}
			if len(img.Auxv) > 0 {
				a := make([]byte, 8*len(img.Auxv))
				for k, v := range img.Auxv {
					le.PutUint64(a[8*k:], v)
				}
				add(NTAuxv, a)
			}
			if len(img.Files) > 0 {
				add(NTFile, encodeNTFile(img.Files))
			}
		}
	}
	return out
}

func encodeNTFile(files []FileMapping) []byte {
	le := binary.LittleEndian
	d := make([]byte, 16+24*len(files))
	le.PutUint64(d, uint64(len(files)))
	le.PutUint64(d[8:], 4096)
	for i, f := range files {
		e := d[16+24*i:]
		le.PutUint64(e, f.Start)
		le.PutUint64(e[8:], f.End)
		le.PutUint64(e[16:], f.Offset/4096)
	}
	for _, f := range files {
		d = append(d, f.Path...)
		d = append(d, 0)
	}
	return d
}
