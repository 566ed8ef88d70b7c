;; The Hamming-distance kernel of VectorIndex (kernel.wasm is this file compiled by wabt's
;; wat2wasm, without debug names; test/vectorKernel.test.ts rebuilds it and compares bytes).
;;
;;   dist[s] = Σ_w popcount(bits[s][w] XOR q[w])   for every row s < n, over 64-bit words
;;
;; The memory is exported and grown by VectorIndex, laid out as
;; [rows' sign bits, `words` i64 a row][the query's bits][one u16 distance a row].
;; A distance is stored in 16 bits: exact while the vectors have fewer than 65,536 dimensions.
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
        (br $each_row)))))
