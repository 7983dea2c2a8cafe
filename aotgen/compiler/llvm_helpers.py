"""The hottest C helpers in LLVM IR, inlined into the kernels that LLVM builds.

LLVM-built kernels would otherwise call the C helpers (c_helpers.py, int8_dot.py) across the
object boundary, once per output element or per dot product. So LLVM gets requantize and
requantize_single (with native 64-bit arithmetic, one SMULL on Cortex-M3 and up, the way TFLite
writes them) and, on DSP cores, dot_s8 (with the Arm DSP intrinsics) as IR; TVM links imported
IR in as always-inline definitions that are not emitted. Both forms are tested bit-exact.
"""

from __future__ import annotations

# Helper names (as in c_helpers, without the aotgen_ prefix) that the IR below defines.
INLINED = ("requantize", "requantize_single", "dot_s8")

# TFLite's MultiplyByQuantizedMultiplier (double rounding): SaturatingRoundingDoublingHighMul of
# x << max(shift, 0), then RoundingDivideByPOT by max(-shift, 0).
_REQUANTIZE = """
define i32 @PREFIX_requantize(i32 %x, i32 %m, i32 %shift) {
  %pos = icmp sgt i32 %shift, 0
  %left = select i1 %pos, i32 %shift, i32 0
  %negshift = sub i32 0, %shift
  %right = select i1 %pos, i32 0, i32 %negshift
  %a = shl i32 %x, %left
  %a_min = icmp eq i32 %a, -2147483648
  %m_min = icmp eq i32 %m, -2147483648
  %overflow = and i1 %a_min, %m_min
  %a64 = sext i32 %a to i64
  %m64 = sext i32 %m to i64
  %ab = mul i64 %a64, %m64
  %ab_nonneg = icmp sge i64 %ab, 0
  %nudge = select i1 %ab_nonneg, i64 1073741824, i64 -1073741823
  %nudged = add i64 %ab, %nudge
  %high64 = sdiv i64 %nudged, 2147483648
  %high = trunc i64 %high64 to i32
  %v = select i1 %overflow, i32 2147483647, i32 %high
  %bit = shl i32 1, %right
  %mask = sub i32 %bit, 1
  %remainder = and i32 %v, %mask
  %half = ashr i32 %mask, 1
  %v_neg = icmp slt i32 %v, 0
  %v_neg32 = zext i1 %v_neg to i32
  %threshold = add i32 %half, %v_neg32
  %shifted = ashr i32 %v, %right
  %round_up = icmp sgt i32 %remainder, %threshold
  %round_up32 = zext i1 %round_up to i32
  %result = add i32 %shifted, %round_up32
  ret i32 %result
}
"""

# TFLite's single-rounding MultiplyByQuantizedMultiplier: (x * m + 2^(total-1)) >> total,
# total = 31 - shift (24..62).
_REQUANTIZE_SINGLE = """
define i32 @PREFIX_requantize_single(i32 %x, i32 %m, i32 %shift) {
  %x64 = sext i32 %x to i64
  %m64 = sext i32 %m to i64
  %product = mul i64 %x64, %m64
  %total = sub i32 31, %shift
  %total64 = zext i32 %total to i64
  %total_minus_one = sub i64 %total64, 1
  %round = shl i64 1, %total_minus_one
  %rounded = add i64 %product, %round
  %shifted = ashr i64 %rounded, %total64
  %result = trunc i64 %shifted to i32
  ret i32 %result
}
"""


# int8_dot's dot product with the Arm DSP intrinsics (kernels call it only on DSP targets): four
# elements per step, two word loads, SXTB16 (bytes 0 and 2, and 1 and 3 after a rotate), SADD16
# of the offset, two SMLAD; then the scalar tail.
_DOT_S8 = """
declare i32 @llvm.arm.sxtb16(i32)
declare i32 @llvm.arm.sadd16(i32, i32)
declare i32 @llvm.arm.smlad(i32, i32, i32)
declare i32 @llvm.fshr.i32(i32, i32, i32)

define i32 @PREFIX_dot_s8(ptr %x, ptr %w, i32 %n, i32 %offset) {
entry:
  %offset16 = and i32 %offset, 65535
  %offset_high = shl i32 %offset16, 16
  %offset2 = or i32 %offset_high, %offset16
  %n4 = and i32 %n, -4
  br label %quad
quad:
  %i = phi i32 [ 0, %entry ], [ %i_next, %quad_body ]
  %acc = phi i32 [ 0, %entry ], [ %acc13, %quad_body ]
  %more = icmp slt i32 %i, %n4
  br i1 %more, label %quad_body, label %tail
quad_body:
  %xp = getelementptr i8, ptr %x, i32 %i
  %wp = getelementptr i8, ptr %w, i32 %i
  %xv = load i32, ptr %xp, align 1
  %wv = load i32, ptr %wp, align 1
  %xr = call i32 @llvm.fshr.i32(i32 %xv, i32 %xv, i32 8)
  %wr = call i32 @llvm.fshr.i32(i32 %wv, i32 %wv, i32 8)
  %x02 = call i32 @llvm.arm.sxtb16(i32 %xv)
  %x13 = call i32 @llvm.arm.sxtb16(i32 %xr)
  %w02 = call i32 @llvm.arm.sxtb16(i32 %wv)
  %w13 = call i32 @llvm.arm.sxtb16(i32 %wr)
  %x02o = call i32 @llvm.arm.sadd16(i32 %x02, i32 %offset2)
  %x13o = call i32 @llvm.arm.sadd16(i32 %x13, i32 %offset2)
  %acc02 = call i32 @llvm.arm.smlad(i32 %x02o, i32 %w02, i32 %acc)
  %acc13 = call i32 @llvm.arm.smlad(i32 %x13o, i32 %w13, i32 %acc02)
  %i_next = add i32 %i, 4
  br label %quad
tail:
  %j = phi i32 [ %i, %quad ], [ %j_next, %tail_body ]
  %tacc = phi i32 [ %acc, %quad ], [ %tacc_next, %tail_body ]
  %tmore = icmp slt i32 %j, %n
  br i1 %tmore, label %tail_body, label %done
tail_body:
  %xq = getelementptr i8, ptr %x, i32 %j
  %wq = getelementptr i8, ptr %w, i32 %j
  %xb = load i8, ptr %xq, align 1
  %wb = load i8, ptr %wq, align 1
  %xs = sext i8 %xb to i32
  %ws = sext i8 %wb to i32
  %xo = add i32 %xs, %offset
  %prod = mul i32 %xo, %ws
  %tacc_next = add i32 %tacc, %prod
  %j_next = add i32 %j, 1
  br label %tail
done:
  ret i32 %tacc
}
"""


def helpers_ir(prefix: str, dsp: bool) -> str:
    """The IR of the INLINED helpers, named under the model's prefix (dot_s8 only on DSP cores)."""
    return (_REQUANTIZE + _REQUANTIZE_SINGLE + (_DOT_S8 if dsp else "")).replace("@PREFIX_", f"@{prefix}_")
