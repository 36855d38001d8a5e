"""Cases for the ``siftfunnel`` command: run, dataset files, assess, summarize, sweep, and a few child processes."""

from __future__ import annotations

from .cases import C, I, V

# ---- the siftfunnel command -------------------------------------------------------------------------
CR, CD, CA, CS, CW = "cli:run", "cli:data files", "cli:assess", "cli:summarize", "cli:sweep"
CM = "cli:merge"
C("cli-no-args", CR, "no subcommand", "cli()", "required")
C("cli-unknown-cmd", CR, "unknown subcommand", "cli('frobnicate')", "frobnicate")
C("cli-run-no-spec", CR, "run without a spec", "cli('run')", "spec")
C("cli-run-bad-flag", CR, "an unknown flag", "cli('run', spec(T), '--frobnicate')", "--frobnicate")
C("cli-seed-2-64", CR, "--seed 2**64", "cli('run', spec(T), '--seed', str(2**64))", "--seed")
C("cli-seed-expr", CR, "--seed '2**64'", "cli('run', spec(T), '--seed', '2**64')", "--seed")
C("cli-seed-neg", CR, "--seed -1", "cli('run', spec(T), '--seed', '-1')", "--seed")
C("cli-seed-float", CR, "--seed 1.5", "cli('run', spec(T), '--seed', '1.5')", "--seed")
C("cli-backend", CR, "--backend jax", "cli('run', spec(T), '--backend', 'jax')", "--backend")
C("cli-budget", CR, "--attack-budget tiny", "cli('run', spec(T), '--attack-budget', 'tiny')", "--attack-budget")
C("cli-spec-seed", CR, "experiment.seed = 2**40", "cli('run', spec(T, ('seed = 3', 'seed = 1099511627776')), "
  "'--out', T / 'o')", "experiment.seed")
C("cli-split-seed", CR, "dataset.split_seed = 2**40", "cli('run', spec(T, ('image_size = 28', 'image_size = 28\\n"
  "split_seed = 1099511627776')), '--out', T / 'o')", "dataset.split_seed")
C("cli-seed-negative-spec", CR, "experiment.seed = -1", "cli('run', spec(T, ('seed = 3', 'seed = -1')), '--out', "
  "T / 'o')", "experiment.seed")
C("cli-device-cuda7", CR, "training.device = 'cuda:7'", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\n"
  "device = \"cuda:7\"')), '--out', T / 'o')", "training.device", needs="torch")
C("cli-device-flag", CR, "--device cuda:7", "cli('run', spec(T), '--out', T / 'o', '--device', 'cuda:7')", "--device",
  needs="torch")
C("cli-device-malformed", CR, "--device gpu0 (demo)", "cli('demo', '--out', T / 'o', '--device', 'gpu0')", "--device",
  needs="torch")
C("cli-spec-dir", CR, "a directory as spec", "cli('run', T)", "is a directory")
C("cli-spec-missing", CR, "a spec file that does not exist", "cli('run', T / 'nope.toml')", "nope.toml")
C("cli-spec-builtin", CR, "an unknown built-in spec name", "cli('run', 'no_such_spec')", "no_such_spec")
C("cli-spec-not-toml", CR, "a spec that is not TOML", "cli('run', write(T / 's.toml', 'this is = = not toml'))",
  "not valid TOML")
C("cli-spec-binary", CR, "a binary file as spec", "cli('run', write(T / 's.toml', b'\\x00\\xff\\xfe' * 50))",
  "s.toml")
C("cli-spec-array", CR, "experiment a string", "cli('run', write(T / 's.toml', 'experiment = \"x\"'))", "experiment")
C("cli-unknown-section", CR, "an unknown section", "cli('run', spec(T, append='[extra]\\nx = 1'))", "extra")
C("cli-unknown-key", CR, "an unknown key", "cli('run', spec(T, ('seed = 3', 'seed = 3\\ncolour = 1')))",
  "experiment.colour")
C("cli-backend-spec", CR, "experiment.backend = 'jax'", "cli('run', spec(T, ('seed = 3', 'seed = 3\\nbackend = "
  "\"jax\"')))", "experiment.backend")
C("cli-plugin-missing-file", CR, "experiment.plugins names a file that does not exist",
  "cli('run', spec(T, ('seed = 3', 'seed = 3\\nplugins = [\"nope.py\"]')))", "experiment.plugins[0]")
C("cli-plugin-not-module", CR, "experiment.plugins names no module",
  "cli('run', spec(T, ('seed = 3', 'seed = 3\\nplugins = [\"no such module\"]')))", "experiment.plugins[0]")
C("cli-plugin-raises", CR, "a plugin that raises on import",
  "(write(T / 'bad_plugin.py', 'raise RuntimeError(\"boom\")'), "
  "cli('run', spec(T, ('seed = 3', 'seed = 3\\nplugins = [\"bad_plugin.py\"]'))))[1]", "experiment.plugins[0]")
C("cli-kind-unregistered", CR, "an unknown defence kind with plugins that register nothing",
  "(write(T / 'empty_plugin.py', 'X = 1'), "
  "cli('run', spec(T, ('seed = 3', 'seed = 3\\nplugins = [\"empty_plugin.py\"]'), "
  "append='[[defences]]\\nkind = \"clamp\"')))[1]", "kind")
C("cli-digits-no-size", CR, "digits without image_size", "cli('run', spec(T, ('image_size = 28\\n', '')), '--out', "
  "T / 'o')", "dataset.image_size")
C("cli-image-size", CR, "image_size = 30", "cli('run', spec(T, ('image_size = 28', 'image_size = 30')))",
  "dataset.image_size")
C("cli-dataset-name", CR, "dataset.name = 'imagenet'", "cli('run', spec(T, ('\"digits\"', '\"imagenet\"')))",
  "dataset.name")
C("cli-npz-no-path", CR, "dataset npz without a path", "cli('run', spec(T, ('\"digits\"', '\"npz\"')))", "dataset.path")
C("cli-npz-missing-path", CR, "dataset path that does not exist", "cli('run', spec(T, ('\"digits\"', '\"npz\"\\n"
  "path = \"/no/such.npz\"')))", "dataset.path")
C("cli-batch-too-big", CR, "batch_size above n_target_train", "cli('run', spec(T, ('batch_size = 32', "
  "'batch_size = 128')))", "training.batch_size")
C("cli-epochs-zero", CR, "training.epochs = 0", "cli('run', spec(T, ('epochs = 1', 'epochs = 0')))", "training.epochs")
C("cli-lr-nan", CR, "training.lr = nan", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\nlr = nan')))",
  "training.lr")
C("cli-lr-string", CR, "training.lr = 'fast'", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\nlr = "
  "\"fast\"')))", "training.lr")
C("cli-width-bool", CR, "model.width = true", "cli('run', spec(T, ('width = 8', 'width = true')))", "model.width")
C("cli-no-defences", CR, "no [[defences]]", "cli('run', spec(T, ('[[defences]]\\nkind = \"none\"', '')))", "defences")
C("cli-no-none", CR, "defences without kind = 'none'", "cli('run', spec(T, ('kind = \"none\"', 'kind = \"noise\"')))",
  "defences")
C("cli-defence-dotdot", CR, "a defence named '..' (would escape cache/)", "cli('run', spec(T, append="
  "'[[defences]]\\nkind = \"noise\"\\nname = \"..\"'))", "defences[1].name")
C("cli-defence-slash", CR, "a defence named 'a/b'", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "name = \"a/b\"'))", "defences[1].name")
C("cli-defence-attacker-dir", CR, "a defence named like the attacker's cache folder",
  "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\nname = \"' + ATTACKER_DIR + '\"'))", "defences[1].name")
C("cli-defence-dup", CR, "two defences of one name", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "[[defences]]\\nkind = \"noise\"'))", "defences[2].name")
C("cli-defence-kind", CR, "defence kind 'magic'", "cli('run', spec(T, append='[[defences]]\\nkind = \"magic\"'))",
  "defences[1].kind")
C("cli-defence-param", CR, "noise sigma = -1", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "sigma = -1.0'))", "defences[1].sigma")
C("cli-attack-suite", CR, "attacks.suite with an unknown attack", "cli('run', spec(T, append='[attacks]\\n"
  "suite = [\"telepathy\"]'))", "attacks.suite")
C("cli-attack-n-images", CR, "attacks.rmle.n_images above n_private_eval", "cli('run', spec(T, append="
  "'[attacks.rmle]\\nn_images = 500'))", "attacks.rmle.n_images")
C("cli-criterion-samples", CR, "criterion.max_samples = 5", "cli('run', spec(T, append='[criterion]\\n"
  "max_samples = 5'))", "criterion.max_samples")
C("cli-defences-table", CR, "defences = 3 instead of an array of tables", "cli('run', spec(T, "
  "('[[defences]]\\nkind = \"none\"', ''), ('[experiment]', 'defences = 3\\n[experiment]')))", "defences")
C("cli-architecture", CR, "model.architecture = 'alexnet'", "cli('run', spec(T, ('architecture = \"cnn\"', "
  "'architecture = \"alexnet\"')))", "model.architecture")
C("cli-private-eval", CR, "n_private_eval + n_target_test below 20", "cli('run', spec(T, ('n_target_test = 40', "
  "'n_target_test = 1'), ('n_private_eval = 16', 'n_private_eval = 4')))", ("dataset.n_private_eval",
  "attacks."))
C("cli-out-file", CR, "--out is a file", "cli('run', spec(T), '--out', write(T / 'f', 'x'))", "--out")
C("cli-out-under-file", CR, "--out under a file", "cli('run', spec(T), '--out', write(T / 'f', 'x') / 'sub' / 'dir')",
  "--out")
C("cli-out-unwritable", CR, "--out where nothing can be written (/proc)", "cli('run', spec(T), '--out', "
  "'/proc/siftfunnel-audit')", "--out")
C("cli-rerun-keeps-cache", CR, "run again into an earlier run's folder without --resume",
  "cli('run', spec(T), '--out', earlier_run(T))", "--out",
  after="(T / 'out' / 'cache' / 'none' / 'model.json').is_file()")
C("cli-overwrite-foreign", CR, "--overwrite on a cache/ folder siftfunnel did not write",
  "cli('run', spec(T), '--out', foreign_cache(T), '--overwrite')", "--out",
  after="(T / 'out' / 'cache' / 'precious.txt').is_file()", needs="torch")
C("cli-sweep-seeds", CW, "--seeds a,b", "cli('sweep', spec(T), '--seeds', 'a,b')", "--seeds")
C("cli-sweep-executor", CW, "--executor dask", "cli('sweep', spec(T), '--executor', 'dask')", "--executor")
C("cli-sweep-section", CW, "[sweep] with an unknown key", "cli('sweep', spec(T, append='[sweep]\\nspeed = 3'), "
  "'--out', T / 'o')", "sweep")
C("cli-sweep-workers", CW, "--workers 0", "cli('sweep', spec(T), '--workers', '0', '--out', T / 'o', "
  "'--executor', 'sequential')", "--workers")
C("cli-sweep-threads", CW, "--threads -2", "cli('sweep', spec(T), '--threads', '-2', '--out', T / 'o', "
  "'--executor', 'sequential')", "--threads")
C("cli-merge-one", CM, "merge with one sweep", "cli('merge', mkdir(T / 'a'), '--out', T / 'o')", "sweeps")
C("cli-merge-out-is-input", CM, "--out is one of the merged sweeps",
  "cli('merge', mkdir(T / 'a'), mkdir(T / 'b'), '--out', T / 'a')", "--out")
C("cli-merge-no-frontier", CM, "a sweep folder without frontier.json",
  "cli('merge', mkdir(T / 'a'), mkdir(T / 'b'), '--out', T / 'o')", "sweeps[0]")
C("cli-merge-not-json", CM, "a frontier.json that is not JSON",
  "cli('merge', write(T / 'a' / 'frontier.json', '{oops').parent, mkdir(T / 'b'), '--out', T / 'o')", "sweeps[0]")
C("cli-merge-binary", CM, "a binary frontier.json",
  "cli('merge', write(T / 'a' / 'frontier.json', b'\\xff\\xfe\\x00' * 40).parent, mkdir(T / 'b'), '--out', "
  "T / 'o')", "sweeps[0]")
C("cli-merge-bad-point", CM, "a frontier.json whose points are numbers",
  "cli('merge', write(T / 'a' / 'frontier.json', '{\"schema_version\": 1, \"points\": [1, 2]}').parent, "
  "mkdir(T / 'b'), '--out', T / 'o')", "points[0]")
C("cli-merge-bad-seed", CM, "a point whose seed is a list",
  "cli('merge', write(T / 'a' / 'frontier.json', '{\"schema_version\": 1, \"points\": [{\"defence\": \"none\", "
  "\"point\": \"none\", \"seed\": [1]}]}').parent, mkdir(T / 'b'), '--out', T / 'o')", "seed")
# hostile and malformed dataset files, read by `siftfunnel run` before any model trains
for kind in ("os.system", "exec", "popen", "eval-in-dict"):
    C(f"cli-cifar-pickle-{kind}", CD, f"a crafted CIFAR pickle ({kind}) as dataset",
      f"cli('run', data_spec(T, 'cifar', cifar_dir(T, {kind!r}, MARKER)), '--out', T / 'o')", "data_batch_1",
      after="not MARKER.exists()")
C("cli-cifar-truncated", CD, "a truncated CIFAR pickle", "cli('run', data_spec(T, 'cifar', cifar_dir(T, 'truncated')), "
  "'--out', T / 'o')", "data_batch_1")
C("cli-cifar-label-2-40", CD, "a CIFAR label of 2**40", "cli('run', data_spec(T, 'cifar', cifar_dir(T, 'label')), "
  "'--out', T / 'o')", "data_batch_1")
C("cli-npz-label-2-40", CD, "an npz label of 2**40", "cli('run', data_spec(T, 'npz', npz_set(T, y=LABELS_2_40)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-label-neg", CD, "an npz label of -1", "cli('run', data_spec(T, 'npz', npz_set(T, y=-LABELS)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-label-frac", CD, "an npz label of 1.5", "cli('run', data_spec(T, 'npz', npz_set(T, y=LABELS + 0.5)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-object", CD, "an npz whose labels are pickled objects (a crafted payload)",
  "cli('run', data_spec(T, 'npz', npz_set(T, y=evil_objects(MARKER))), '--out', T / 'o')", "set.npz",
  after="not MARKER.exists()")
C("cli-npz-keys", CD, "an npz without x/y", "cli('run', data_spec(T, 'npz', npz_set(T, a=LABELS)), '--out', T / 'o')",
  "set.npz")
C("cli-npz-nan", CD, "an npz with NaN images", "cli('run', data_spec(T, 'npz', npz_set(T, x=np.full((40, 8, 8), "
  "np.nan))), '--out', T / 'o')", "set.npz")
C("cli-npz-not-zip", CD, "a dataset .npz that is not an archive", "cli('run', data_spec(T, 'npz', "
  "write(T / 'set.npz', b'garbage')), '--out', T / 'o')", "set.npz")
C("cli-idx-magic", CD, "an IDX file with a bad magic number", "cli('run', data_spec(T, 'idx', idx_dir(T, 'magic')), "
  "'--out', T / 'o')", "train-images-idx3-ubyte")
C("cli-idx-size", CD, "an IDX file whose header lies about its size", "cli('run', data_spec(T, 'idx', "
  "idx_dir(T, 'size')), '--out', T / 'o')", "train-images-idx3-ubyte")
C("cli-folder-empty", CD, "an image folder without class folders", "cli('run', data_spec(T, 'folder', "
  "mkdir(T / 'imgs')), '--out', T / 'o')", "imgs")
C("cli-folder-not-image", CD, "an image folder holding a .png that is not an image",
  "cli('run', data_spec(T, 'folder', bad_png_folder(T)), '--out', T / 'o')", "bad.png")
# `siftfunnel assess FEATURES.npz`
C("cli-assess-0d", CA, "x is 0-d", "cli('assess', npz(T, x=np.float64(1.0), z=np.zeros((5, 2))))", "array x")
C("cli-assess-npy", CA, "a .npy instead of .npz", "cli('assess', npy(T, np.zeros((5, 2))))", "not an .npz")
C("cli-assess-npy-0d", CA, "a 0-d .npy", "cli('assess', npy(T, np.float64(3.0)))", "not an .npz")
C("cli-assess-empty", CA, "empty arrays", "cli('assess', npz(T, x=np.zeros((0, 2)), z=np.zeros((0, 2))))", "empty")
C("cli-assess-strings", CA, "string x", "cli('assess', npz(T, x=np.array(['a', 'b']), z=np.zeros((2, 2))))", "array x")
C("cli-assess-complex", CA, "complex z", "cli('assess', npz(T, x=np.zeros((30, 2)), z=np.zeros((30, 2), complex)))",
  "array z")
C("cli-assess-n", CA, "x and z of different n", "cli('assess', npz(T, x=np.zeros((4, 2)), z=np.zeros((3, 2))))",
  "4 samples")
C("cli-assess-dir", CA, "a directory", "cli('assess', mkdir(T / 'f.npz'))", "is a directory")
C("cli-assess-missing", CA, "a file that does not exist", "cli('assess', T / 'nope.npz')", "nope.npz")
C("cli-assess-no-z", CA, "an npz without z", "cli('assess', npz(T, x=np.zeros((30, 2))))", "lacks")
C("cli-assess-object", CA, "an npz holding a crafted pickled object", "cli('assess', npz(T, x=evil_objects(MARKER), "
  "z=np.zeros((2, 2))))", "f.npz", after="not MARKER.exists()")
C("cli-assess-truncated", CA, "an npz cut in half", "cli('assess', truncated_npz(T))", "f.npz")
C("cli-assess-few", CA, "10 samples (the criterion needs 20)", "cli('assess', npz(T, x=XA[:10], z=ZA[:10]))",
  "x needs at least")
C("cli-assess-nan", CA, "NaN in x", "cli('assess', npz(T, x=XA * np.nan, z=ZA))", "x contains NaN")
C("cli-assess-const-x", CA, "constant x", "cli('assess', npz(T, x=np.ones((60, 3)), z=ZA))", "x is constant")
V("cli-assess-const-z", CA, "constant z = 5 via the command: the difficulty score", "assess_score(T, XA, C5A)", 1.0,
  "constant z scores exactly 1 (criterion.assess docstring)")
V("cli-assess-dead-z", CA, "all-zero z (dead features) via the command: the difficulty score",
  "assess_score(T, XA, np.zeros((60, 4)))", 1.0, "constant z scores exactly 1 (criterion.assess docstring)")
I("cli-assess-z-scaled", CA, "z scaled by 1e200 via the command: the difficulty score",
  "(assess_score(T, XA, ZA * 1e200), assess_score(T, XA, ZA))", rtol=1e-6, atol=1e-9)
# `siftfunnel summarize RUN...`
C("cli-sum-missing", CS, "a folder without results.json", "cli('summarize', T)", "no results.json")
C("cli-sum-badjson", CS, "results.json cut short", "cli('summarize', results(T, text='{\"dataset\": '))",
  "results.json")
C("cli-sum-array", CS, "results.json holding a list", "cli('summarize', results(T, text='[1, 2]'))", "results.json")
C("cli-sum-binary", CS, "results.json with invalid UTF-8", "cli('summarize', results(T, text=b'\\xff\\xfe{'))",
  "results.json")
for key in ("dataset", "rows", "spec.experiment.seed", "rows.0.accuracy", "rows.0.criterion", "rows.0.attacks"):
    C(f"cli-sum-no-{key}", CS, f"results.json without {key}", f"cli('summarize', results(T, drop={key!r}))",
      key.replace(".0.", "[0]."))
C("cli-sum-rows-empty", CS, "rows = []", "cli('summarize', results(T, put={'rows': []}))", "rows")
C("cli-sum-attacks-list", CS, "rows[0].attacks a list", "cli('summarize', results(T, put={'rows.0.attacks': [1]}))",
  "rows[0].attacks")
C("cli-sum-criterion-list", CS, "rows[0].criterion a list", "cli('summarize', results(T, put={'rows.0.criterion': "
  "[1]}))", ("rows[0].criterion", "criterion"))
C("cli-sum-accuracy-str", CS, "rows[0].accuracy a string", "cli('summarize', results(T, put={'rows.0.accuracy': "
  "'high'}))", ("rows[0].accuracy", "accuracy"))
C("cli-sum-second-bad", CS, "two runs, the second lacking rows", "cli('summarize', results(T), "
  "results(T / 'b', drop='rows'))", "rows")
C("cli-sum-rank-bad", CS, "rank_correlation.json cut short", "cli('summarize', results(T, rank='{'))",
  "rank_correlation.json")
# a few through the real entry point, in a child process
C("proc-seed", CR, "python -m sift_reference.cli run SPEC --seed 2**64 (child process)",
  "cli_proc('run', spec(T), '--seed', str(2**64))", "--seed")
C("proc-spec-dir", CR, "a directory as spec (child process)", "cli_proc('run', T)", "is a directory")
C("proc-assess-0d", CA, "assess on a 0-d array (child process)", "cli_proc('assess', npz(T, x=np.float64(1.0), "
  "z=np.zeros((5, 2))))", "array x")
C("proc-cifar-pickle", CD, "a crafted CIFAR pickle as dataset (child process)",
  "cli_proc('run', data_spec(T, 'cifar', cifar_dir(T, 'os.system', MARKER)), '--out', T / 'o')", "data_batch_1",
  after="not MARKER.exists()")
C("proc-summarize", CS, "summarize a results.json missing rows (child process)",
  "cli_proc('summarize', results(T, drop='rows'))", "rows")
C("proc-digits-no-size", CR, "digits without image_size (child process)",
  "cli_proc('run', spec(T, ('image_size = 28\\n', '')), '--out', T / 'o')", "dataset.image_size")

