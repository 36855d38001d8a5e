"""Cases for ``sift_torch``, ``sift_keras`` and the run folder's own files (``sift_reference.runner``)."""

from __future__ import annotations

import pickle

from .cases import E, I, V

# ---- sift_torch ------------------------------------------------------------------------------------
P = "sift_torch"
E("torch-arch", P, "build_split arch='alexnet'", "st.build_split('alexnet')", "arch", needs="torch")
E("torch-image-size", P, "image_size=4", "st.build_split('cnn', image_size=4, width=2)", "image_size", needs="torch")
E("torch-classes", P, "num_classes=1", "st.build_split('cnn', num_classes=1, width=2)", "num_classes", needs="torch")
E("torch-width", P, "width=0", "st.build_split('cnn', width=0)", "width", needs="torch")
E("torch-normalize", P, "normalize=(0.5,)", "st.build_split('cnn', width=2, normalize=(0.5,))", "normalize",
  needs="torch")
E("torch-defence-dotdot", P, "make_defence('..')", "st.make_defence('..')", "defence", needs="torch")
E("torch-defence-int", P, "make_defence(3)", "st.make_defence(3)", "defence", needs="torch")
E("torch-defence-setting", P, "make_defence('none', foo=1)", "st.make_defence('none', foo=1)", "foo", needs="torch")
E("torch-noise-sigma", P, "noise sigma = -1", "st.make_defence('noise', sigma=-1.0)", "sigma", needs="torch")
E("torch-dropout-rate", P, "dropout rate = 1", "st.make_defence('dropout', rate=1.0)", "rate", needs="torch")
E("torch-loss-epsilon", P, "SiftFunnelLoss(epsilon=1)", "st.SiftFunnelLoss(epsilon=1.0)", "epsilon", needs="torch")
E("torch-loss-alpha", P, "SiftFunnelLoss(alpha=-1)", "st.SiftFunnelLoss(alpha=-1.0)", "alpha", needs="torch")
E("torch-loss-penalty", P, "penalty_batch='all'", "st.SiftFunnelLoss(penalty_batch='all')", "penalty_batch",
  needs="torch")
E("torch-loss-n", P, "x, z, logits, labels of different n", "st.SiftFunnelLoss()(TX[:4], TZ[:3], TL[:4], TY[:4])",
  "same number of samples", needs="torch")
E("torch-loss-label-range", P, "label 5 with 2 classes", "st.SiftFunnelLoss()(TX[:4], TZ[:4], TL[:4], "
  "torch.tensor([0, 1, 5, 0]))", "label", needs="torch")
E("torch-loss-label-float", P, "float labels", "st.CrossEntropyLoss()(TX[:4], TZ[:4], TL[:4], torch.zeros(4))",
  "labels", needs="torch")
E("torch-loss-numpy", P, "numpy x", "st.SiftFunnelLoss()(np.zeros((4, 1)), TZ[:4], TL[:4], TY[:4])", "x must be",
  needs="torch")
V("torch-loss-dead", P, "all-zero z: DeadFeaturesWarning and a finite loss", "dead_feature_loss()",
  {"warned": True, "finite": True},
  "FeatureLoss warns when z is all zero (check_dead); dCor and R_P of a constant are 0",
  needs="torch")
V("torch-dcor-const", P, "dCor of a constant torch tensor", "float(sc.distance_correlation(TX.flatten(1), "
  "torch.zeros(16, 3)))", 0.0, "a constant variable gives 0 (docstring)", needs="torch")
I("torch-dcor-scaled", P, "dCor of float32 torch tensors scaled by 1e-30 (squares underflow in float32)",
  "(float(sc.distance_correlation(TX.flatten(1) * 1e-30, TZ.flatten(1))), "
  "float(sc.distance_correlation(TX.flatten(1), TZ.flatten(1))))", rtol=1e-4, atol=1e-6, needs="torch")
I("torch-rp-scaled", P, "channel_redundancy of a float32 torch map scaled by 1e30",
  "(float(sc.channel_redundancy(TZ * 1e30)), float(sc.channel_redundancy(TZ)))", rtol=1e-4, atol=1e-6, needs="torch")
E("torch-cfg-epochs", P, "TrainConfig(epochs=0)", "st.TrainConfig(epochs=0)", "epochs", needs="torch")
E("torch-cfg-batch", P, "TrainConfig(batch_size=2.5)", "st.TrainConfig(batch_size=2.5)", "batch_size", needs="torch")
E("torch-cfg-lr", P, "TrainConfig(lr=nan)", "st.TrainConfig(lr=float('nan'))", "lr", needs="torch")
E("torch-cfg-schedule", P, "lr_schedule='linear'", "st.TrainConfig(lr_schedule='linear')", "lr_schedule",
  needs="torch")
E("torch-cfg-ckpt-every", P, "checkpoint_every=0", "st.TrainConfig(checkpoint_every=0)", "checkpoint_every",
  needs="torch")
E("torch-cfg-wd", P, "weight_decay=-1", "st.TrainConfig(weight_decay=-1.0)", "weight_decay", needs="torch")
E("torch-fit-batch-too-big", P, "batch_size above the sample count", "tiny_fit(T, batch_size=64)", "batch_size",
  needs="torch")
E("torch-fit-data", P, "train_data a dict", "st.Trainer(tiny_model(), st.CrossEntropyLoss(), tiny_cfg(T)).fit({})",
  "train_data", needs="torch")
E("torch-fit-y-float", P, "float labels in train_data", "tiny_fit(T, data=(TX, TY.float()))", "y must be",
  needs="torch")
E("torch-fit-x-int", P, "integer images in train_data", "tiny_fit(T, data=(TX.long(), TY))", "x must be",
  needs="torch")
E("torch-fit-n-mismatch", P, "x and y of different n", "tiny_fit(T, data=(TX, TY[:-1]))", "same number of samples",
  needs="torch")
E("torch-fit-resume-nodir", P, "resume=True without checkpoint_dir",
  "st.Trainer(tiny_model(), st.CrossEntropyLoss(), st.TrainConfig(epochs=1, batch_size=8, progress=False))"
  ".fit((TX, TY), resume=True)", "checkpoint_dir", needs="torch")
E("torch-fit-device-cuda7", P, "TrainConfig(device='cuda:7') on a machine without that device",
  "tiny_fit(T, device='cuda:7')", "cuda:7", (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-fit-device-bogus", P, "TrainConfig(device='gpu0')", "tiny_fit(T, device='gpu0')", "gpu0",
  (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-resume-batch", P, "resume=True after changing batch_size", "resume_changed(T, batch_size=4)", "batch_size",
  needs="torch")
E("torch-resume-epochs", P, "resume=True after changing epochs", "resume_changed(T, epochs=3)", "epochs",
  needs="torch")
E("torch-resume-lr", P, "resume=True after changing lr", "resume_changed(T, lr=1e-3)", "lr", needs="torch")
E("torch-resume-seed", P, "resume=True after changing seed", "resume_changed(T, seed=5)", "seed", needs="torch")
for how, what in (("half", "truncated to half"), ("empty", "made empty"), ("garbage", "overwritten with garbage"),
                  ("pickle", "replaced by a crafted pickle")):
    V(f"torch-resume-last-{how}", P, f"resume after last.pt was {what}: warns, resumes from prev.pt",
      f"resume_damaged(T, MARKER, {how!r})",
      {"warned": True, "steps_run": 2, "same_weights": True, "marker": False},
      "load_latest_checkpoint falls back to prev.pt (end of epoch 1) with a RuntimeWarning naming last.pt, so only "
      "epoch 2's 2 steps run again, and the result equals the uninterrupted run (docs/faults.md)", needs="torch")
E("torch-ckpt-empty", P, "load_checkpoint on an empty file", "load_ckpt(T, b'')", "x.pt", needs="torch",
  errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-garbage", P, "load_checkpoint on garbage bytes", "load_ckpt(T, b'not a checkpoint' * 10)", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-truncated", P, "load_checkpoint on a checkpoint cut in half", "load_ckpt(T, 'half')", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-foreign", P, "load_checkpoint on a torch file without the format key", "load_ckpt(T, 'foreign')", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-pickle", P, "load_checkpoint on a crafted pickle (os.system)", "load_ckpt(T, 'evil', MARKER)", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-dir", P, "load_checkpoint on a directory", "st.load_checkpoint(T)", "siftfunnel-audit-", needs="torch",
  errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-inv-shape", P, "InverseNetworkAttack image_shape=(1, 8)", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8))",
  "image_shape", needs="torch")
E("torch-inv-epochs", P, "InverseNetworkAttack epochs=0", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8, 8), "
  "epochs=0)", "epochs", needs="torch")
E("torch-inv-val", P, "val_fraction=0.5", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8, 8), val_fraction=0.5)",
  "val_fraction", needs="torch")
E("torch-inv-edge", P, "edge a function", "st.InverseNetworkAttack(lambda x: x, image_shape=(1, 8, 8))", "edge",
  needs="torch")
E("torch-inv-one-image", P, "fit on one image", "tiny_inverse().fit(TX[:1])", "aux_x", needs="torch")
E("torch-inv-nan", P, "fit on NaN images", "tiny_inverse().fit(TX * np.nan)", "aux_x", needs="torch")
E("torch-inv-wrong-shape", P, "fit on 3 x 8 x 8 images", "tiny_inverse().fit(torch.rand(4, 3, 8, 8))", "aux_x",
  needs="torch")
E("torch-inv-before-fit", P, "evaluate before fit", "tiny_inverse().evaluate(TX[:2])", "fit(aux_x)",
  (RuntimeError, ValueError), needs="torch")
E("torch-rmle-param", P, "parametrization='tanh2'", "st.RMLEAttack(EDGE, parametrization='tanh2')", "parametrization",
  needs="torch")
E("torch-rmle-steps", P, "steps=0", "st.RMLEAttack(EDGE, steps=0)", "steps", needs="torch")
E("torch-rmle-z-nan", P, "reconstruct NaN features", "st.RMLEAttack(EDGE, image_shape=(1, 8, 8), steps=2, "
  "progress=False).reconstruct(torch.full((2, 2, 8, 8), float('nan')))", "z contains", needs="torch")
E("torch-rmle-no-shape", P, "reconstruct without an image_shape", "st.RMLEAttack(EDGE, steps=2, progress=False)"
  ".reconstruct(torch.zeros(2, 2, 8, 8))", "image_shape", (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-hybrid-inverse", P, "HybridAttack(inverse='x')", "st.HybridAttack(EDGE, image_shape=(1, 8, 8), inverse='x')",
  "inverse", needs="torch")
E("torch-gen-few", P, "generative prior fitted on 4 images", "st.GenerativePriorAttack(EDGE, image_shape=(1, 8, 8), "
  "gan_epochs=1, progress=False).fit(TX[:4])", "aux_x", needs="torch")
E("torch-gen-generator", P, "generator of the wrong type", "st.GenerativePriorAttack(EDGE, image_shape=(1, 8, 8), "
  "generator=EDGE)", "generator", needs="torch")
E("torch-mine-objective", P, "estimate_mi_torch objective='bogus'", "st.estimate_mi_torch(XM, ZM, seed=0, "
  "objective='bogus', max_steps=10)", "objective", needs="torch")
E("torch-mine-nan", P, "estimate_mi_torch with NaN in z", "st.estimate_mi_torch(XM, ZM * np.nan, seed=0, max_steps=10)",
  "z contains", needs="torch")
V("torch-mine-const-x", P, "estimate_mi_torch on constant x (tiny critic)", "float(st.estimate_mi_torch("
  "np.zeros((64, 1)), ZM, seed=0, conv=False, **TINY_MINE_TORCH).value)", ("<=", 1e-6),
  "a critic blind to x cannot beat 0 on held-out pairs of the same z's (Jensen)", needs="torch")

E("torch-protect-channels", P, "siftfunnel defence protect() without channels",
  "st.make_defence('siftfunnel').protect(EDGE, nn.Identity())", "channels", needs="torch")
E("torch-image-size-str", P, "image_size=(8, 'a')", "st.build_split('cnn', image_size=(8, 'a'), width=2)", "image_size",
  needs="torch")
E("torch-trainer-model", P, "Trainer(model='x')", "st.Trainer('x', st.CrossEntropyLoss())", "model", needs="torch")
E("torch-trainer-criterion", P, "Trainer(criterion=3)", "st.Trainer(EDGE, 3)", "criterion", needs="torch")
E("torch-onnx-shape", P, "export_onnx input_shape=(1, 8, 0)",
  "st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 0))", "input_shape", needs="torch")
E("torch-onnx-opset", P, "export_onnx opset=3", "st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 8), opset=3)",
  "opset", needs="torch")
E("torch-onnx-garbage", P, "onnx_features on a file that is not ONNX",
  "st.onnx_features(write(T / 'e.onnx', b'garbage'), np.zeros((1, 1, 8, 8)))", "e.onnx",
  (ValueError, RuntimeError, OSError, ImportError), needs="torch")
E("torch-onnx-x-shape", P, "onnx_features on inputs of the wrong shape",
  "st.onnx_features(st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 8)), np.zeros((2, 1, 4, 4)))",
  "x must have shape", (ValueError, ImportError), needs="torch")

# ---- sift_keras (few and tiny) --------------------------------------------------------------------
KS = "sift_keras"
E("keras-defence", KS, "make_defence('..')", "sk().make_defence('..')", "name", needs="keras")
E("keras-dropout-rate", KS, "dropout rate = 1", "sk().make_defence('dropout', rate=1.0)", "rate", needs="keras")
E("keras-loss-epsilon", KS, "SiftFunnelLoss(epsilon=1)", "sk().SiftFunnelLoss(epsilon=1.0)", "epsilon", needs="keras")
E("keras-loss-classes", KS, "SiftFunnelLoss(num_classes=1)", "sk().SiftFunnelLoss(num_classes=1)", "num_classes",
  needs="keras")
E("keras-loss-alpha", KS, "SiftFunnelLoss(alpha=-1)", "sk().SiftFunnelLoss(alpha=-1.0)", "alpha", needs="keras")
E("keras-optimizer", KS, "default_optimizer(decay_steps=0)", "sk().default_optimizer(decay_steps=0)", "decay_steps",
  needs="keras")
E("keras-baseline-arch", KS, "split_baseline('alexnet')", "sk().split_baseline('alexnet', 10)", "arch", needs="keras")
E("keras-inv-shape", KS, "InverseNetworkAttack image_shape=(8, 8)", "sk().InverseNetworkAttack(keras_edge(), "
  "image_shape=(8, 8))", "image_shape", needs="keras")
E("keras-inv-epochs", KS, "InverseNetworkAttack epochs=0", "sk().InverseNetworkAttack(keras_edge(), "
  "image_shape=(8, 8, 1), epochs=0)", "epochs", needs="keras")
E("keras-mine-objective", KS, "estimate_mi_keras objective='bogus'", "sk().estimate_mi_keras(XM, ZM, seed=0, "
  "objective='bogus', max_steps=10)", "objective", needs="keras")
I("keras-dcor-scaled", KS, "dCor of float32 TensorFlow tensors scaled by 1e-30",
  "(float(sc.distance_correlation(tf_const(XS * 1e-30), tf_const(ZS))), "
  "float(sc.distance_correlation(tf_const(XS), tf_const(ZS))))", rtol=1e-4, atol=1e-6, needs="keras")
V("keras-loss-const-z", KS, "SiftFunnelLoss terms with a constant z (channels-last)",
  "keras_const_terms()", {"dcor": 0.0, "redundancy": 0.0}, "dCor and R_P of a constant are 0 (sift_core docstrings)",
  atol=1e-7, needs="keras")

# ---- sift_reference: the run folder's own files, read back by a resumed run
RF = "sift_reference.runner"
for kind, what in (("truncated", "cut in half"), ("nan", "holding NaN"), ("0d", "0-d"), ("3d", "of 3 dimensions"),
                   ("pickle", "a pickled object array (a crafted payload)"), ("text", "a text file")):
    V(f"recon-{kind}", RF, f"a saved *_recon.npy {what}: treated as missing, recomputed",
      f"runner._load_recon(recon_file(T, {kind!r}, MARKER)) is None", True,
      "_load_recon: saved reconstructions, or None when the file is missing or damaged; no pickle is loaded")
V("events-cut-short", RF, "events.jsonl whose last line a crash cut short, and a line of binary garbage",
  "[e['event'] for e in runner.read_events(events_file(T))]", ["train", "load"],
  "read_events: a line cut short by a crash is skipped")
