// What a function's machine code means for probing it (x86-64, disassembled with capstone):
// whether the kernel will put a uprobe on an instruction at all, every place the function
// can leave by (its return instructions and its jumps out: tail calls), and whether an
// exception can pass through it. The return sites let perfbpf time a call without touching
// its return address, which Go's stack copying and C++ unwinding both depend on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace perfbpf {

// Why the kernel refuses a uprobe on the instruction at CODE (arch/x86/kernel/uprobes.c,
// uprobe_init_insn and branch_setup_xol_ops: LOCK or ES/CS/SS/DS prefixes, opcodes outside
// its table, SS-masking moves, 16-bit branches), or "" when it accepts one. SIZE bytes are
// available at CODE (16 are enough).
std::string uprobe_refusal(const uint8_t* code, size_t size);

enum class ExitKind : uint8_t {
  Return,        // ret, ret imm16
  Jump,          // jmp rel to outside the function: a tail call
  JumpIf,        // jcc rel to outside the function: a conditional tail call
  IndirectJump,  // jmp through a register or memory: a tail call when its target is outside
};

// An indirect jump's target, for BPF to compute at the probe: a register's value, or the
// 8 bytes at base + index * scale + disp (base = the next instruction when rip_relative).
struct JumpTarget {
  bool memory = false;
  bool rip_relative = false;
  uint8_t base = 0;   // FUNCLAT_REG_* (bpf/funclat.h), FUNCLAT_REG_NONE if absent
  uint8_t index = 0;  // idem
  uint8_t scale = 1;
  int32_t disp = 0;
};

struct ExitSite {
  uint64_t offset = 0;  // bytes from the function's start
  uint8_t length = 0;   // of the instruction
  ExitKind kind = ExitKind::Return;
  uint8_t condition = 0;  // JumpIf: the condition code, low nibble of the 0x7X / 0x0f 0x8X opcode
  // The stack pointer is known to be back at its entry value here: the site ends the call
  // whenever it leaves the function. Otherwise (the offset could not be followed) BPF checks
  // that a frame of this function sits exactly at the current stack pointer.
  bool at_entry_sp = false;
  JumpTarget target;     // IndirectJump only
  std::string refusal;   // non-empty: the kernel cannot probe this instruction (why)
};

struct FunctionCode {
  std::string entry_refusal;   // why the entry instruction cannot be probed, "" if it can
  bool decoded = false;        // the whole body disassembled; exits below are then complete
  std::string problem;         // why it was not ("size unknown", "undecodable bytes at +0x12")
  bool makes_calls = false;    // calls or jumps out: an exception thrown below can pass through it
  bool calls_through_pointer = false;  // indirect call or jump (callbacks, vtables)
  uint64_t go_entry_offset = 0;  // Go: first instruction past the stack-bound check (0: none)
  std::vector<ExitSite> exits;
};

struct CodeRange {
  uint64_t address = 0, size = 0;
};

// How to read a piece of code.
struct CodeContext {
  // The function follows Go's ABI: no tail calls through pointers (its indirect jumps are
  // jump tables), and a stack-bound check first.
  bool go = false;
  // The code is the function's entry (false: a .cold part, entered with the stack unknown).
  bool at_entry = true;
  // Other code of the same function (its .cold part, or the hot part for a .cold one):
  // jumps there do not leave the function.
  std::vector<CodeRange> same_function;
};

// Disassembles SIZE bytes of code loaded at ADDRESS (the offsets in the result are relative
// to it).
FunctionCode analyze_function(const uint8_t* code, size_t size, uint64_t address, const CodeContext& ctx);

// Reads SIZE bytes at FILE_OFFSET of PATH and analyzes them; a short read is a problem.
FunctionCode analyze_function_in_file(const std::string& path, uint64_t file_offset, uint64_t size,
                                      uint64_t address, const CodeContext& ctx);

// "ret", "jmp (tail call)", ... for reports and errors.
const char* exit_kind_name(ExitKind kind);

}  // namespace perfbpf
