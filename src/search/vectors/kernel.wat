;; The kernels of VectorIndex (kernel.wasm is this file compiled by wabt's wat2wasm, default
;; features — SIMD included — without debug names; test/vectorKernel.test.ts rebuilds it and
;; compares bytes). The memory is exported and laid out by VectorIndex.
;;
;; scan: dist[s] = Σ_w popcount(bits[s][w] XOR q[w])   for every row s < n, over 64-bit words
;;   rows' sign bits are `words` i64 a row; one u16 distance a row is written (exact while the
;;   vectors have fewer than 65,536 dimensions).
;;
;; dots: out[i] = Σ_b codes[slots[i]][b] · q[b]   for i < m, over int8 codes, `chunks` 16-byte
;;   chunks a row (zero-padded), as i32 (exact: |sum| ≤ 127² · 16 · chunks < 2³¹ below ~8,000
;;   chunks). Only the listed rows (i32 slot numbers) are read: the Hamming scan chose them.
(module
  (memory (export "memory") 1)
  (func (export "scan") (param $bits i32) (param $n i32) (param $words i32) (param $q i32) (param $dist i32)
    (local $s i32) (local $w i32) (local $row i32) (local $d i64)
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
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $words) (i32.const 3))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $each_row))))
  (func (export "dots") (param $codes i32) (param $slots i32) (param $m i32) (param $chunks i32) (param $q i32) (param $out i32)
    (local $i i32) (local $c i32) (local $row i32) (local $acc v128) (local $a v128) (local $b v128)
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $row
          (i32.add
            (local.get $codes)
            (i32.mul
              (i32.load (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2))))
              (i32.shl (local.get $chunks) (i32.const 4)))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $c (i32.const 0))
        (block $chunks_done
          (loop $each_chunk
            (br_if $chunks_done (i32.ge_u (local.get $c) (local.get $chunks)))
            (local.set $a (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 4)))))
            (local.set $b (v128.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 4)))))
            (local.set $acc
              (i32x4.add (local.get $acc)
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $a)) (i16x8.extend_low_i8x16_s (local.get $b)))))
            (local.set $acc
              (i32x4.add (local.get $acc)
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $a)) (i16x8.extend_high_i8x16_s (local.get $b)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $each_chunk)))
        (i32.store
          (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
            (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each_row)))))
