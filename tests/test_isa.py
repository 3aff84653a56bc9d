"""The Armv6-M instruction check (targets/isa.py) on objdump text: Thumb-2 is found, by
instruction and by function; the Armv6-M 32-bit instructions and literal pools pass."""

from tinycompress.targets.isa import not_armv6m

LISTING = """
00000000 <f>:
   0:\t4603      \tmov\tr3, r0
   2:\tfb90 f0f1 \tsdiv\tr0, r0, r1
   6:\t428b      \tcmp\tr3, r1
   8:\tbfc8      \tit\tgt
   a:\t3001      \taddgt\tr0, #1
   c:\tb108      \tcbz\tr0, 12 <f+0x12>
   e:\tf000 f802 \tbl\t16 <g>
  12:\tf3ef 8010 \tmrs\tr0, PRIMASK
  16:\tf3bf 8f4f \tdsb\tsy
  1a:\t4770      \tbx\tlr
  1c:\t00000000 \t.word\t0x00000000

00000020 <g>:
  20:\tf000 b800 \tb.w\t24 <g+0x4>
  24:\tbf00      \tnop
"""


def test_thumb2_found_armv6m_passes():
    count, bad = not_armv6m(LISTING)
    assert count == 12  # the .word is data
    assert bad == ["0x2 <f>: sdiv r0, r0, r1", "0x8 <f>: it gt", "0xc <f>: cbz r0, 12 <f+0x12>",
                   "0x20 <g>: b.w 24 <g+0x4>"]


def test_plain_armv6m_listing_is_clean():
    clean = "\n".join(ln for ln in LISTING.splitlines()
                      if not any(k in ln for k in ("sdiv", "\tit\t", "cbz", "b.w")))
    assert not_armv6m(clean) == (8, [])
