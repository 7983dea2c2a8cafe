; LLVM IR of a hot helper, inlined into LLVM-built kernels (compiler/llvm_helpers.py);
; @PREFIX_ becomes the model's prefix.
; TFLite's single-rounding MultiplyByQuantizedMultiplier: (x * m + 2^(total-1)) >> total,
; total = 31 - shift (24..62).
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
