;; The kernels of VectorIndex (kernel.wasm is this file compiled by wabt's wat2wasm, default
;; features — SIMD included — without debug names; test/vectorKernel.test.ts rebuilds it and
;; compares bytes). The memory is exported and laid out by VectorIndex.
;;
;; scan: dist[s] = Σ_w popcount(bits[s][w] XOR q[w])   for every row s < n, over 64-bit words
;;   rows' sign bits are `words` i64 a row; one u16 distance a row is written (exact while the
;;   vectors have fewer than 65,536 dimensions), and hist[d] (u32, zeroed by the caller) counts
;;   the rows at each distance.
;;
;; select: writes to out (i32) every slot s < n with dist[s] < threshold and the first `ties`
;;   with dist[s] = threshold, in slot order; returns how many (the counting selection's pass).
;;   out needs room for n slots.
;;
;; dots: out[i] = Σ_b codes[slots[i]][b] · q[b]   for i < m, over int8 codes, `chunks` 16-byte
;;   chunks a row (zero-padded), as i32 (exact: |sum| ≤ 127² · 16 · chunks < 2³¹ below ~8,000
;;   chunks). Only the listed rows (i32 slot numbers) are read: the Hamming scan chose them.
;;   They are scattered over a memory far larger than the caches, so a row's first read waits
;;   for DRAM: eight rows are walked together (eight independent streams of misses in flight,
;;   the query's chunk widened once for all eight), 2.4× faster than one row at a time on
;;   6,250 of 100k rows × 384; the last m mod 8 rows go one at a time.
(module
  (memory (export "memory") 1)
  (func (export "scan") (param $bits i32) (param $n i32) (param $words i32) (param $q i32) (param $dist i32) (param $hist i32)
    (local $s i32) (local $w i32) (local $row i32) (local $d i64) (local $at i32)
    (local.set $row (local.get $bits))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $s) (local.get $n)))
        (local.set $d (i64.const 0))
        (local.set $w (i32.const 0))
        (block $words_done
          (loop $each_word
            (br_if $words_done (i32.ge_u (local.get $w) (local.get $words)))
            (local.set $d
              (i64.add
                (local.get $d)
                (i64.popcnt
                  (i64.xor
                    (i64.load (i32.add (local.get $row) (i32.shl (local.get $w) (i32.const 3))))
                    (i64.load (i32.add (local.get $q) (i32.shl (local.get $w) (i32.const 3))))))))
            (local.set $w (i32.add (local.get $w) (i32.const 1)))
            (br $each_word)))
        (i32.store16
          (i32.add (local.get $dist) (i32.shl (local.get $s) (i32.const 1)))
          (i32.wrap_i64 (local.get $d)))
        (local.set $at (i32.add (local.get $hist) (i32.shl (i32.wrap_i64 (local.get $d)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $words) (i32.const 3))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $each_row))))
  (func (export "select") (param $dist i32) (param $n i32) (param $threshold i32) (param $ties i32) (param $out i32) (result i32)
    (local $s i32) (local $d i32) (local $m i32) (local $tie i32)
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $s) (local.get $n)))
        (local.set $d (i32.load16_u (i32.add (local.get $dist) (i32.shl (local.get $s) (i32.const 1)))))
        ;; Written every time, kept (m moves on) only when picked: no branch to mispredict.
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $m) (i32.const 2))) (local.get $s))
        (local.set $tie (i32.and (i32.eq (local.get $d) (local.get $threshold)) (i32.gt_s (local.get $ties) (i32.const 0))))
        (local.set $ties (i32.sub (local.get $ties) (local.get $tie)))
        (local.set $m (i32.add (local.get $m) (i32.or (i32.lt_u (local.get $d) (local.get $threshold)) (local.get $tie))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $each_row)))
    (local.get $m))
  (func $hsum (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))
  (func (export "dots") (param $codes i32) (param $slots i32) (param $m i32) (param $chunks i32) (param $q i32) (param $out i32)
    (local $i i32) (local $rb i32) (local $off i32) (local $x v128) (local $ql v128) (local $qh v128)
    (local $r0 i32) (local $a0 v128) (local $r1 i32) (local $a1 v128) (local $r2 i32) (local $a2 v128) (local $r3 i32) (local $a3 v128) (local $r4 i32) (local $a4 v128) (local $r5 i32) (local $a5 v128) (local $r6 i32) (local $a6 v128) (local $r7 i32) (local $a7 v128)
    (local.set $rb (i32.shl (local.get $chunks) (i32.const 4)))
    (block $groups_done
      (loop $each_group
        (br_if $groups_done (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $m)))
        (local.set $r0 (i32.add (local.get $codes) (i32.mul (i32.load offset=0 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $r1 (i32.add (local.get $codes) (i32.mul (i32.load offset=4 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $r2 (i32.add (local.get $codes) (i32.mul (i32.load offset=8 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $r3 (i32.add (local.get $codes) (i32.mul (i32.load offset=12 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $r4 (i32.add (local.get $codes) (i32.mul (i32.load offset=16 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a4 (v128.const i32x4 0 0 0 0))
        (local.set $r5 (i32.add (local.get $codes) (i32.mul (i32.load offset=20 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a5 (v128.const i32x4 0 0 0 0))
        (local.set $r6 (i32.add (local.get $codes) (i32.mul (i32.load offset=24 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a6 (v128.const i32x4 0 0 0 0))
        (local.set $r7 (i32.add (local.get $codes) (i32.mul (i32.load offset=28 (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a7 (v128.const i32x4 0 0 0 0))
        (local.set $off (i32.const 0))
        (block $chunks_done
          (loop $each_chunk
            (br_if $chunks_done (i32.ge_u (local.get $off) (local.get $rb)))
            (local.set $x (v128.load (i32.add (local.get $q) (local.get $off))))
            (local.set $ql (i16x8.extend_low_i8x16_s (local.get $x)))
            (local.set $qh (i16x8.extend_high_i8x16_s (local.get $x)))
            (local.set $x (v128.load (i32.add (local.get $r0) (local.get $off))))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r1) (local.get $off))))
            (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r2) (local.get $off))))
            (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r3) (local.get $off))))
            (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r4) (local.get $off))))
            (local.set $a4 (i32x4.add (local.get $a4) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r5) (local.get $off))))
            (local.set $a5 (i32x4.add (local.get $a5) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r6) (local.get $off))))
            (local.set $a6 (i32x4.add (local.get $a6) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $x (v128.load (i32.add (local.get $r7) (local.get $off))))
            (local.set $a7 (i32x4.add (local.get $a7) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $ql))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $qh)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $each_chunk)))
        (i32.store offset=0 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a0)))
        (i32.store offset=4 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a1)))
        (i32.store offset=8 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a2)))
        (i32.store offset=12 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a3)))
        (i32.store offset=16 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a4)))
        (i32.store offset=20 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a5)))
        (i32.store offset=24 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a6)))
        (i32.store offset=28 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a7)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $each_group)))
    ;; the last rows, one at a time
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $r0 (i32.add (local.get $codes) (i32.mul (i32.load (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $off (i32.const 0))
        (block $last_done
          (loop $each_last
            (br_if $last_done (i32.ge_u (local.get $off) (local.get $rb)))
            (local.set $x (v128.load (i32.add (local.get $q) (local.get $off))))
            (local.set $ql (v128.load (i32.add (local.get $r0) (local.get $off))))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $ql)) (i16x8.extend_low_i8x16_s (local.get $x)))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $ql)) (i16x8.extend_high_i8x16_s (local.get $x))))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $each_last)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $a0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each_row)))))
