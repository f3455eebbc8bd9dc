// Package goabi knows what a probe needs about Go-compiled (and plain
// x86-64) machine code: where in a function to place a cheap entry probe,
// where every return is (so no uretprobe is ever put on Go code, whose stacks
// move), and how the register ABI passes arguments and results.
package goabi

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// SiteCost says whether the kernel emulates the probed instruction (cheap)
// or must single-step a copy of it out of line (several times dearer).
type SiteCost string

// The two ways the kernel runs a probed instruction.
const (
	Emulated      SiteCost = "emulated"
	SingleStepped SiteCost = "single-stepped"
)

// Site is one instruction to probe inside a function.
type Site struct {
	Off  uint64 // bytes from the function's entry
	Inst string // the instruction in Go assembler syntax
	Cost SiteCost
	Kind SiteKind
}

// SiteKind says what a site stands for.
type SiteKind string

// Kinds of probe site.
const (
	Entry    SiteKind = "entry"
	Return   SiteKind = "ret"
	TailJump SiteKind = "tailjmp"
)

// costOf classifies an instruction by what the x86 uprobe code does with
// it: relative jumps and calls, conditional jumps, NOPs and register pushes
// are emulated; everything else is single-stepped.
func costOf(in x86asm.Inst) SiteCost {
	switch in.Op {
	case x86asm.PUSH:
		if _, ok := in.Args[0].(x86asm.Reg); ok {
			return Emulated
		}
	case x86asm.NOP:
		return Emulated
	case x86asm.CALL, x86asm.JMP:
		if _, ok := in.Args[0].(x86asm.Rel); ok {
			return Emulated
		}
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE, x86asm.JG,
		x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO, x86asm.JS, x86asm.JNS,
		x86asm.JP, x86asm.JNP:
		return Emulated
	}
	return SingleStepped
}

type decoded struct {
	off uint64
	in  x86asm.Inst
}

// decode walks code linearly; bytes that do not decode (padding) are
// skipped one at a time.
func decode(code []byte) []decoded {
	var out []decoded
	for off := 0; off < len(code); {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil || in.Len == 0 {
			off++
			continue
		}
		out = append(out, decoded{uint64(off), in})
		off += in.Len
	}
	return out
}

func syntax(in x86asm.Inst, pc uint64) string { return x86asm.GoSyntax(in, pc, nil) }

// EntrySite chooses where to probe the entry of a function at addr whose
// machine code is code. For Go code it skips the stack-bound check (the
// CMPQ against g.stackguard0 and its conditional jump, which the kernel would
// single-step) and returns the frame-pointer PUSHQ BP that follows, where the
// arguments are still in their registers and which the kernel emulates. A
// call that grows its stack runs the check twice but the PUSHQ once, so
// counts stay exact. Otherwise the first instruction is the site.
func EntrySite(code []byte, addr uint64, isGo bool) (Site, error) {
	ins := decode(code)
	if len(ins) == 0 {
		return Site{}, fmt.Errorf("no decodable code at %#x", addr)
	}
	first := Site{Off: 0, Inst: syntax(ins[0].in, addr), Cost: costOf(ins[0].in), Kind: Entry}
	if !isGo {
		return first, nil
	}
	// Go prologues: [LEAQ -n(SP), R12 | MOVQ SP, R12; SUBQ $n, R12; ...]
	// CMPQ SP|R12, 16(R14); JBE morestack; PUSHQ BP. Accept only those
	// shapes so no argument register has been touched.
	for i, d := range ins {
		if i > 6 {
			break
		}
		in := d.in
		switch in.Op {
		case x86asm.PUSH:
			if r, ok := in.Args[0].(x86asm.Reg); ok && r == x86asm.RBP {
				return Site{Off: d.off, Inst: syntax(in, addr+d.off), Cost: Emulated, Kind: Entry}, nil
			}
			return first, nil
		case x86asm.CMP, x86asm.LEA, x86asm.JBE, x86asm.JB, x86asm.JA, x86asm.JAE:
			if in.Op == x86asm.LEA || in.Op == x86asm.CMP {
				if !touchesOnly(in, x86asm.R12) {
					return first, nil
				}
			}
		case x86asm.MOV, x86asm.SUB:
			// MOVQ SP, R12 / SUBQ $n, R12 (large frames).
			if !touchesOnly(in, x86asm.R12) {
				return first, nil
			}
		default:
			return first, nil
		}
	}
	return first, nil
}

// touchesOnly reports whether in writes no register other than scratch (CMP
// writes only flags).
func touchesOnly(in x86asm.Inst, scratch x86asm.Reg) bool {
	if in.Op == x86asm.CMP {
		return true
	}
	r, ok := in.Args[0].(x86asm.Reg)
	return ok && r == scratch
}

// ReturnSites lists every way out of the function: each RET, and each
// relative JMP whose target lies outside [addr, addr+len(code)) (a tail
// call). An indirect JMP is taken to be a jump table inside the function;
// indirect tail calls are reported in the error-free result as unknown
// exits through the second value.
func ReturnSites(code []byte, addr uint64) (sites []Site, indirect int) {
	end := addr + uint64(len(code))
	for _, d := range decode(code) {
		in := d.in
		pc := addr + d.off
		switch in.Op {
		case x86asm.RET:
			sites = append(sites, Site{Off: d.off, Inst: syntax(in, pc), Cost: SingleStepped, Kind: Return})
		case x86asm.JMP:
			switch a := in.Args[0].(type) {
			case x86asm.Rel:
				target := uint64(int64(pc) + int64(in.Len) + int64(a))
				if target < addr || target >= end {
					sites = append(sites, Site{Off: d.off, Inst: syntax(in, pc), Cost: Emulated, Kind: TailJump})
				}
			default:
				indirect++
			}
		}
	}
	return sites, indirect
}
