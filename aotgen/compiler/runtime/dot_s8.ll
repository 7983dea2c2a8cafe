; LLVM IR of a hot helper, inlined into LLVM-built kernels (compiler/llvm_helpers.py);
; @PREFIX_ becomes the model's prefix.
; int8_dot's dot product with the Arm DSP intrinsics (kernels call it only on DSP targets): four
; elements per step, two word loads, SXTB16 (bytes 0 and 2, and 1 and 3 after a rotate), SADD16
; of the offset, two SMLAD; then the scalar tail.
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
