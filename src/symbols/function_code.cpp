#include "symbols/function_code.h"

#include <linux/types.h>

#include <fstream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "funclat.h"
#include "symbols/disassembler.h"

namespace perfbpf {
namespace {

// arch/x86/kernel/uprobes.c, good_insns_64: one bit per first opcode byte the kernel will
// copy and single-step (or emulate). Rows of 16 opcodes, bit N = opcode row + N.
constexpr uint16_t kGoodOpcodes64[16] = {
    0b1011111100111111,  // 00-0f: not 06 07 0e
    0b0011111100111111,  // 10-1f: not 16 17 1e 1f
    0b0111111101111111,  // 20-2f: not 27 2f
    0b0111111101111111,  // 30-3f: not 37 3f
    0xffff,              // 40-4f
    0xffff,              // 50-5f
    0b0000111111111000,  // 60-6f: not 60 61 62 6c-6f
    0xffff,              // 70-7f
    0b1111111111111011,  // 80-8f: not 82
    0b1111101111111111,  // 90-9f: not 9a
    0xffff,              // a0-af
    0xffff,              // b0-bf
    0b0000111111111111,  // c0-cf: not cc-cf
    0b1111111110001111,  // d0-df: not d4-d6
    0b0000101100001111,  // e0-ef: not e4-e7 ea ec-ef
    0b1111001111101101,  // f0-ff: not f1 f4 fa fb
};

bool opcode_good(uint8_t op) { return (kGoodOpcodes64[op >> 4] >> (op & 0xf)) & 1; }

bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xf0: case 0xf2: case 0xf3: case 0x2e: case 0x36: case 0x3e: case 0x26:
    case 0x64: case 0x65: case 0x66: case 0x67:
      return true;
    default:
      return false;
  }
}

// capstone register -> the FUNCLAT_REG_* index BPF reads pt_regs by.
uint8_t bpf_register(x86_reg r) {
  switch (r) {
    case X86_REG_RAX: return FUNCLAT_REG_RAX;
    case X86_REG_RBX: return FUNCLAT_REG_RBX;
    case X86_REG_RCX: return FUNCLAT_REG_RCX;
    case X86_REG_RDX: return FUNCLAT_REG_RDX;
    case X86_REG_RSI: return FUNCLAT_REG_RSI;
    case X86_REG_RDI: return FUNCLAT_REG_RDI;
    case X86_REG_RBP: return FUNCLAT_REG_RBP;
    case X86_REG_RSP: return FUNCLAT_REG_RSP;
    case X86_REG_R8: return FUNCLAT_REG_R8;
    case X86_REG_R9: return FUNCLAT_REG_R9;
    case X86_REG_R10: return FUNCLAT_REG_R10;
    case X86_REG_R11: return FUNCLAT_REG_R11;
    case X86_REG_R12: return FUNCLAT_REG_R12;
    case X86_REG_R13: return FUNCLAT_REG_R13;
    case X86_REG_R14: return FUNCLAT_REG_R14;
    case X86_REG_R15: return FUNCLAT_REG_R15;
    default: return FUNCLAT_REG_NONE;
  }
}

// The stack pointer's offset from its value at entry (0 = the return address on top), when
// a linear sweep can follow it; and the frame pointer's, once set from it.
struct StackState {
  bool known = true;
  int64_t sp = 0;
  bool rbp_known = false;
  int64_t rbp = 0;
};

bool is_reg(const cs_x86_op& op, x86_reg r) { return op.type == X86_OP_REG && op.reg == r; }

bool writes_rsp(const cs_x86& x) {
  for (uint8_t i = 0; i < x.op_count; i++)
    if (is_reg(x.operands[i], X86_REG_RSP) && (x.operands[i].access & CS_AC_WRITE)) return true;
  return false;
}

bool writes_rbp(const cs_x86& x) {
  for (uint8_t i = 0; i < x.op_count; i++)
    if (is_reg(x.operands[i], X86_REG_RBP) && (x.operands[i].access & CS_AC_WRITE)) return true;
  return false;
}

// How one instruction moves the stack and frame pointers (calls leave them as they were).
void track_stack(const cs_insn& in, StackState& s) {
  const cs_x86& x = in.detail->x86;
  const cs_x86_op* op = x.operands;
  switch (in.id) {
    case X86_INS_PUSH: case X86_INS_PUSHFQ: s.sp -= 8; return;
    case X86_INS_POP: case X86_INS_POPFQ:
      s.sp += 8;
      if (x.op_count && is_reg(op[0], X86_REG_RBP)) s.rbp_known = false;
      return;
    case X86_INS_CALL: return;
    case X86_INS_LEAVE:
      s.known = s.known && s.rbp_known;
      s.sp = s.rbp + 8;
      s.rbp_known = false;
      return;
    case X86_INS_SUB: case X86_INS_ADD:
      if (x.op_count == 2 && is_reg(op[0], X86_REG_RSP)) {
        if (op[1].type != X86_OP_IMM) s.known = false;
        s.sp += in.id == X86_INS_ADD ? op[1].imm : -op[1].imm;
        return;
      }
      break;
    case X86_INS_LEA:
      if (x.op_count == 2 && op[1].mem.index == X86_REG_INVALID) {
        bool from_sp = op[1].mem.base == X86_REG_RSP, from_bp = op[1].mem.base == X86_REG_RBP;
        if (is_reg(op[0], X86_REG_RSP)) {
          s.known = s.known && (from_sp || (from_bp && s.rbp_known));
          s.sp = (from_sp ? s.sp : s.rbp) + op[1].mem.disp;
          return;
        }
        if (is_reg(op[0], X86_REG_RBP) && from_sp) {
          s.rbp_known = s.known;
          s.rbp = s.sp + op[1].mem.disp;
          return;
        }
      }
      break;
    case X86_INS_MOV:
      if (x.op_count == 2 && is_reg(op[0], X86_REG_RBP) && is_reg(op[1], X86_REG_RSP)) {
        s.rbp_known = s.known;
        s.rbp = s.sp;
        return;
      }
      if (x.op_count == 2 && is_reg(op[0], X86_REG_RSP) && is_reg(op[1], X86_REG_RBP)) {
        s.known = s.known && s.rbp_known;
        s.sp = s.rbp;
        return;
      }
      break;
    default:
      break;
  }
  if (writes_rsp(x)) s.known = false;  // and rsp, -16; mov rsp, rax; ...
  if (writes_rbp(x)) s.rbp_known = false;
}

bool is_conditional_jump(unsigned id) {
  switch (id) {
    case X86_INS_JAE: case X86_INS_JA: case X86_INS_JBE: case X86_INS_JB: case X86_INS_JE: case X86_INS_JGE:
    case X86_INS_JG: case X86_INS_JLE: case X86_INS_JL: case X86_INS_JNE: case X86_INS_JNO: case X86_INS_JNP:
    case X86_INS_JNS: case X86_INS_JO: case X86_INS_JP: case X86_INS_JS:
      return true;
    default:
      return false;  // jcxz/jrcxz/loop: never used to leave a function
  }
}

// The condition code of a jcc from its opcode bytes (0x7X rel8, 0x0f 0x8X rel32).
uint8_t condition_code(const cs_x86& x) {
  return static_cast<uint8_t>((x.opcode[0] == 0x0f ? x.opcode[1] : x.opcode[0]) & 0x0f);
}

bool has_notrack(const cs_insn& in) {
  for (uint16_t i = 0; i < in.size && is_legacy_prefix(in.bytes[i]); i++)
    if (in.bytes[i] == 0x3e) return true;
  return false;
}

// Go's prologue compares the stack pointer (or SP - frame) with g.stackguard0, 16(R14), and
// jumps to morestack, which grows the stack and restarts the function from its first byte:
// an entry probe there fires twice for one call. The instruction after that jump runs once
// per call with the stack pointer still at its entry value.
uint64_t go_entry_past_stack_check(const Disassembler& cs, const uint8_t* code, size_t size, uint64_t address) {
  const uint8_t* p = code;
  size_t left = size;
  uint64_t addr = address;
  cs_insn* in = cs.api().malloc(cs.handle());
  bool compared = false;
  uint64_t past = 0;
  for (int n = 0; n < 5 && cs.api().disasm_iter(cs.handle(), &p, &left, &addr, in); n++) {
    const cs_x86& x = in->detail->x86;
    if (writes_rsp(x)) break;
    if (in->id == X86_INS_CMP) {
      for (uint8_t i = 0; i < x.op_count; i++)
        if (x.operands[i].type == X86_OP_MEM && x.operands[i].mem.base == X86_REG_R14 && x.operands[i].mem.disp == 16)
          compared = true;
    }
    if (in->id == X86_INS_JBE && compared) {
      past = addr - address;
      break;
    }
  }
  cs.api().free(in, 1);
  return past;
}

}  // namespace

std::string uprobe_refusal(const uint8_t* code, size_t size) {
  const Disassembler cs;
  if (!cs) return "";  // no disassembler: let the kernel decide
  const uint8_t* p = code;
  size_t left = size;
  uint64_t addr = 0;
  cs_insn* in = cs.api().malloc(cs.handle());
  std::string why;
  if (!cs.api().disasm_iter(cs.handle(), &p, &left, &addr, in)) {
    cs.api().free(in, 1);
    return "its first bytes do not decode as an instruction";
  }
  size_t i = 0;
  bool opsize = false;
  for (; i < in->size && is_legacy_prefix(in->bytes[i]); i++) {
    uint8_t b = in->bytes[i];
    if (b == 0xf0) why = "a LOCK-prefixed instruction";
    if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e) why = "a segment-prefixed instruction (notrack or branch hint)";
    opsize = opsize || b == 0x66;
  }
  if (why.empty() && i < in->size && (in->bytes[i] & 0xf0) == 0x40) i++;  // REX
  if (why.empty() && i < in->size) {
    uint8_t op = in->bytes[i];
    // VEX and EVEX carry the opcode after their own bytes; the kernel's decoder does the same.
    if (op == 0xc5 || op == 0xc4 || op == 0x62) {
      size_t skip = op == 0xc5 ? 2 : op == 0xc4 ? 3 : 4;
      op = i + skip < in->size ? in->bytes[i + skip] : 0x0f;
    }
    bool branch = in->id == X86_INS_JMP || in->id == X86_INS_CALL || is_conditional_jump(in->id);
    if (!opcode_good(op))
      why = fmt::format("opcode {:#04x} ({}), which uprobes do not support", op, in->mnemonic);
    else if (op == 0x8e && ((in->detail->x86.modrm >> 3) & 7) == 2)
      why = "a move to SS, which masks the single-step trap";
    else if (branch && opsize && (in->detail->x86.operands[0].type == X86_OP_IMM))
      why = "a 16-bit branch";
  }
  cs.api().free(in, 1);
  return why;
}

const char* exit_kind_name(ExitKind kind) {
  switch (kind) {
    case ExitKind::Return: return "ret";
    case ExitKind::Jump: return "jmp (tail call)";
    case ExitKind::JumpIf: return "jcc (conditional tail call)";
    case ExitKind::IndirectJump: return "indirect jmp";
  }
  return "ret";
}

FunctionCode analyze_function(const uint8_t* code, size_t size, uint64_t address, const CodeContext& ctx) {
  const bool go = ctx.go;
  const Disassembler cs;
  FunctionCode out;
  out.entry_refusal = uprobe_refusal(code, size);
  if (!cs) {
    out.problem = "the disassembler (capstone) could not be opened";
    return out;
  }
  if (size == 0) {
    out.problem = "its size is unknown";
    return out;
  }
  if (go && ctx.at_entry) out.go_entry_offset = go_entry_past_stack_check(cs, code, size, address);
  const uint64_t end = address + size;
  auto same_function = [&](uint64_t target) {
    if (target >= address && target < end) return true;
    for (const CodeRange& r : ctx.same_function)
      if (target >= r.address && target < r.address + r.size) return true;
    return false;
  };
  // Branch targets inside the function with the stack state at the branch; a second pass
  // gives backward-branch targets the state the first pass found for them.
  std::map<uint64_t, StackState> at_target;
  cs_insn* in = cs.api().malloc(cs.handle());
  for (int pass = 0; pass < 2; pass++) {
    const uint8_t* p = code;
    size_t left = size;
    uint64_t addr = address;
    StackState s;
    s.known = ctx.at_entry;
    out.exits.clear();
    out.makes_calls = out.calls_through_pointer = false;
    out.decoded = true;
    while (left > 0) {
      const uint64_t here = addr;
      if (!cs.api().disasm_iter(cs.handle(), &p, &left, &addr, in)) {
        // Padding (int3, zeros, a long NOP cut by the end) after the last instruction is not
        // code: symbol sizes end on an instruction boundary.
        bool padding = !s.known;
        for (size_t i = 0; i < left; i++) padding = padding && (p[i] == 0xcc || p[i] == 0x00 || p[i] == 0x90);
        if (!padding && (s.known || left >= 15)) {
          out.decoded = false;
          out.problem = fmt::format("bytes at +{:#x} do not decode", here - address);
        }
        break;
      }
      if (auto t = at_target.find(here); t != at_target.end() && !s.known) s = t->second;
      const cs_x86& x = in->detail->x86;
      const bool direct = x.op_count == 1 && x.operands[0].type == X86_OP_IMM;
      const uint64_t target = direct ? static_cast<uint64_t>(x.operands[0].imm) : 0;
      const bool inside = direct && target >= address && target < end;
      const bool elsewhere_in_function = direct && !inside && same_function(target);
      ExitSite site;
      site.offset = here - address;
      site.length = static_cast<uint8_t>(in->size);
      site.at_entry_sp = s.known && s.sp == 0;
      const bool frame_left = !s.known || s.sp == 0;  // the return address may be on top
      bool exit = false, falls_through = true;
      if (in->id == X86_INS_CALL) {
        out.makes_calls = true;
        out.calls_through_pointer = out.calls_through_pointer || !direct;
      } else if (in->id == X86_INS_RET) {
        // A ret below the entry level returns into a pushed address: a jump, not a return.
        exit = !s.known || s.sp == 0;
        site.at_entry_sp = exit;
        site.kind = ExitKind::Return;
        falls_through = false;
      } else if (in->id == X86_INS_JMP || is_conditional_jump(in->id)) {
        const bool conditional = in->id != X86_INS_JMP;
        falls_through = conditional;
        if (inside) {
          auto [it, fresh] = at_target.emplace(target, s);
          if (!fresh && !it->second.known) it->second = s;
        } else if (elsewhere_in_function) {
          // its other part: analyzed on its own
        } else if (direct) {
          out.makes_calls = true;  // a tail call, or a jump into a .cold part that may call
          exit = frame_left;
          site.kind = conditional ? ExitKind::JumpIf : ExitKind::Jump;
          if (conditional) site.condition = condition_code(x);
        } else if (!go && !has_notrack(*in)) {
          // Through a pointer: a tail call or a jump table (notrack marks CET jump tables;
          // Go compiles no tail calls through pointers). BPF compares the target with the
          // function's bounds.
          out.makes_calls = true;
          out.calls_through_pointer = true;
          exit = frame_left;
          site.kind = ExitKind::IndirectJump;
          const cs_x86_op& o = x.operands[0];
          site.target.memory = o.type == X86_OP_MEM;
          if (o.type == X86_OP_REG) {
            site.target.base = bpf_register(o.reg);
            exit = exit && site.target.base != FUNCLAT_REG_NONE;
          } else {
            site.target.rip_relative = o.mem.base == X86_REG_RIP;
            site.target.base = site.target.rip_relative ? uint8_t{FUNCLAT_REG_NONE} : bpf_register(o.mem.base);
            site.target.index = bpf_register(o.mem.index);
            site.target.scale = static_cast<uint8_t>(o.mem.scale);
            site.target.disp = static_cast<int32_t>(o.mem.disp);
            exit = exit && o.mem.segment == X86_REG_INVALID;
          }
        }
      } else if (in->id == X86_INS_UD2 || in->id == X86_INS_HLT || in->id == X86_INS_INT3) {
        falls_through = false;
      }
      if (exit && pass == 1) {
        site.refusal = uprobe_refusal(in->bytes, in->size);
        out.exits.push_back(site);
      }
      track_stack(*in, s);
      if (!falls_through) s.known = false;  // the next instruction is only reached by a jump
    }
  }
  cs.api().free(in, 1);
  return out;
}

FunctionCode analyze_function_in_file(const std::string& path, uint64_t file_offset, uint64_t size,
                                      uint64_t address, const CodeContext& ctx) {
  constexpr uint64_t kMaxFunctionBytes = 1 << 20;  // a larger "function" is a bad symbol size
  std::vector<uint8_t> code(std::min(size, kMaxFunctionBytes) + 16);
  std::ifstream in(path, std::ios::binary);
  if (in) in.seekg(static_cast<std::streamoff>(file_offset));
  if (in) in.read(reinterpret_cast<char*>(code.data()), static_cast<std::streamsize>(code.size()));
  const size_t got = in || in.eof() ? static_cast<size_t>(in.gcount()) : 0;
  if (size > kMaxFunctionBytes || got < std::min<uint64_t>(size, 1)) {
    FunctionCode out;
    out.problem = size > kMaxFunctionBytes ? "its symbol size is implausible" : "its code cannot be read";
    if (got) out.entry_refusal = uprobe_refusal(code.data(), got);
    return out;
  }
  // The entry check may look past a tiny function's end; the body analysis stays within it.
  FunctionCode out = analyze_function(code.data(), std::min<uint64_t>(size, got), address, ctx);
  if (size == 0) out.entry_refusal = uprobe_refusal(code.data(), got);
  return out;
}

}  // namespace perfbpf
