"""The CBANet family (Guo, Xu & Lu): one decoder for many bitrates and
complexity levels, on bmshj2018 (CBANet-HP) and mbt2018 (CBANet-AR).

  model.py   CBANetHP, CBANetAR: the CAM (Eq. 6-7), BAMs of BALs and IBALs
             (Eq. 8-9), the bitrate CNN B (Fig. 4)
  recipe.py  the training recipe 'cbanet' and its stages
  codec.py   CBANetCodec, CBANetARCodec: bmshj2018's / mbt2018's streams at
             any bitrate j, the integer form of Eq. 8 (exact_shrink)

Files are coded with `python -m lic_jax codec` (--rate, --complexity).
"""
