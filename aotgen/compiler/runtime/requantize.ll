; LLVM IR of a hot helper, inlined into LLVM-built kernels (compiler/llvm_helpers.py);
; @PREFIX_ becomes the model's prefix.
; TFLite's MultiplyByQuantizedMultiplier (double rounding): SaturatingRoundingDoublingHighMul of
; x << max(shift, 0), then RoundingDivideByPOT by max(-shift, 0).
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
