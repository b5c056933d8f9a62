"""T2L checkpoint fixtures (hypermod.pt + args.yaml + adapter_config.json, laid out as released)
and the reference generation path (scripts/generate_lora.py -> load_hypermod_checkpoint ->
embed_texts -> task_encoder -> gen_lora -> save_lora), followed by PEFT application
(PeftModel.from_pretrained, unmerged) on the base model.
"""

import json
import math
import os

import torch
import yaml

from fx_corpus import read_descriptions
from fx_io import ensure_dir, randn, rand_uniform, write_safetensors, write_text
from hyper_modulator import HyperModulator, peft_module_names

R, LORA_ALPHA = 8, 16
TINY_LATENT, TINY_HEAD_IN = 32, 32


class Variant:
    def __init__(self, name, shared=False, autoreg=False, learnpos=False, task="sft", pred_z=True,
                 factorized=False, delta_w_scaling=None, target_modules=("q_proj", "v_proj"),
                 storage_location="cuda:0"):
        self.name = name
        self.shared = shared
        self.autoreg = autoreg
        self.learnpos = learnpos
        self.task = task
        self.pred_z = pred_z
        self.factorized = factorized
        self.delta_w_scaling = delta_w_scaling
        self.target_modules = list(target_modules)  # order written in adapter_config.json
        self.storage_location = storage_location    # location tag in hypermod.pt's pickle (None: "cpu")

    def head_use_bias(self, mt_lora_path=None):
        # create_hypermod: args.head_use_bias is NOT used; this rule is.
        return (self.task == "sft" and mt_lora_path is None) or (self.task == "recon" and not self.pred_z)


VARIANTS = {
    "llama": [
        Variant("t2l_L"),
        Variant("t2l_M", shared=True),
        Variant("t2l_S", shared=True, autoreg=True),
        Variant("t2l_S_learnpos", shared=True, autoreg=True, learnpos=True),
        Variant("t2l_autoreg", autoreg=True),
        Variant("t2l_autoreg_learnpos", autoreg=True, learnpos=True),
        Variant("t2l_recon", task="recon", pred_z=False, factorized=False, delta_w_scaling=10000.0,
                storage_location=None),
        Variant("t2l_recon_z", task="recon", pred_z=True, factorized=True, shared=True, delta_w_scaling=10000.0),
    ],
    "gemma": [Variant("t2l_L")],
    # the adapter_config.json lists v_proj first: the layer-type index follows that order
    "mistral": [Variant("t2l_L", target_modules=("v_proj", "q_proj"))],
}


# ---------------------------------------------------------------------------------------------
# args.yaml (yaml.dump(vars(args)) of the reference's TrainingArguments after parsing)
# ---------------------------------------------------------------------------------------------
TRAINING_ARGUMENT_DEFAULTS = {
    "config": None, "training_task": "sft", "model_dir": None, "emb_model": "", "exp_setup": None,
    "sft_mode": None, "equally_weight_sample": True, "train_ds_names": None, "n_train_ds": None,
    "n_descs_per_ds": None, "inp_max_len": 512, "target_modules": None, "shared_AB_head": False,
    "autoreg_gen": False, "learnable_pos_emb": False, "learnable_AB_offset": False,
    "hypernet_latent_size": 128, "head_in_size": 512, "head_use_bias": False, "use_per_task_emb": True,
    "use_one_hot_task_emb": False, "use_inp_as_desc": False, "use_per_sample_desc": False,
    "use_default_desc": False, "n_points_per_task": 1, "use_hierarchical_sampler": False,
    "also_val_on_train": False, "lr": 1e-4, "l2_reg_generated_w": 1e-3, "weight_decay": 1e-3,
    "label_smoothing": 0.1, "grad_accum_steps": 1, "epochs": 20, "batch_size": 8, "val_batch_size": 64,
    "warmup_frac": 0.2, "neftune_noise_alpha": 5, "max_grad_norm": 1.0, "logging_freq": 100,
    "val_freq": 10000, "model_watch_freq": 5000, "save_freq": 10 ** 100, "seed": 42, "debug": False,
    "notes": None, "keep_only_best": True, "skip_eval": False, "eval_ds_info": None,
    "additional_eval_descs": None, "save_to_base_model_dir": False, "n_tasks_per_batch": 8,
    "mt_lora_path": None, "encoder_type": "linear", "n_embs_per_sampled_task": None, "pred_z_score": True,
    "factorized": False, "delta_w_scaling": 10000,
}


def make_args(variant, model_dir, emb_model, latent, head_in):
    rows = read_descriptions()
    train_tasks = []
    for r in rows:
        if r[2] == "yes" and r[0] not in train_tasks:
            train_tasks.append(r[0])
    eval_tasks = ["gsm8k", "arc_easy"]
    eval_ds_info = {t: {"descriptions": [r[3] for r in rows if r[0] == t and r[1] == "eval_config"][:3]}
                    for t in eval_tasks}
    a = dict(TRAINING_ARGUMENT_DEFAULTS)
    # values from the experiment YAML (configs/hyper_lora_decontam_lol_tasks.yaml) ...
    a.update({"additional_eval_descs": ["apples; pears; plums;", "x#1 : y'2 \"z\" @home {a: b}", "zzzzzzzzzzzzzzzzzz"],
              "batch_size": 4, "train_ds_names": train_tasks, "epochs": 10, "eval_ds_info": eval_ds_info,
              "exp_setup": "hyper_lora", "grad_accum_steps": 64, "logging_freq": 100, "lr": 0.00001,
              "max_grad_norm": 1.0, "neftune_noise_alpha": 5, "seed": 42, "skip_eval": False,
              "target_modules": ["q_proj", "v_proj"], "sft_mode": "completion", "use_one_hot_task_emb": False,
              "warmup_frac": 0.1, "use_hierarchical_sampler": True})
    if variant.task == "sft":
        # ... overridden by the scripts/train_t2l_*.sh command line (ints/floats cast by field type)
        a.update({"model_dir": model_dir, "emb_model": emb_model, "warmup_frac": 0.2, "lr": 2.5e-5,
                  "n_tasks_per_batch": 8, "n_points_per_task": 1, "grad_accum_steps": 1, "epochs": 20000,
                  "n_descs_per_ds": 128, "n_train_ds": 479, "exp_setup": "hyper_lora", "encoder_type": "linear",
                  "l2_reg_generated_w": 1e-3, "label_smoothing": 0.1, "neftune_noise_alpha": 5.0,
                  "weight_decay": 1e-2, "hypernet_latent_size": latent, "head_in_size": head_in,
                  "val_batch_size": 32})
        a["use_hypernet"] = True
        a["run_name"] = "20250101-000000_fixture"
        a["save_dir"] = f"train_outputs/sft/hyper_lora/{a['run_name']}"
    else:
        # README's train_hyper_recon.py command line
        a.update({"model_dir": model_dir, "emb_model": emb_model, "warmup_frac": 0.1, "lr": 1e-3, "epochs": 10000,
                  "n_train_ds": 479, "exp_setup": "hyper_lora", "encoder_type": "linear",
                  "pred_z_score": variant.pred_z, "n_descs_per_ds": 128, "n_embs_per_sampled_task": 1,
                  "n_tasks_per_batch": 4, "factorized": variant.factorized,
                  "delta_w_scaling": float(variant.delta_w_scaling), "shared_AB_head": variant.shared,
                  "hypernet_latent_size": latent, "head_in_size": head_in})
        a["training_task"] = "recon"
        a["run_name"] = "20250101-000000_fixture"
        a["save_dir"] = f"train_outputs/recon/hyper_lora/{a['run_name']}"
    a["train_ds_names"] = a["train_ds_names"][: a["n_train_ds"]]
    a["shared_AB_head"] = variant.shared
    a["autoreg_gen"] = variant.autoreg
    a["learnable_pos_emb"] = variant.learnpos
    return a


def dump_args_yaml(args):
    return yaml.dump(args)  # the reference's save_yaml: yaml.dump(data, file), default options


# ---------------------------------------------------------------------------------------------
# adapter_config.json
# ---------------------------------------------------------------------------------------------
def peft_config_json(model_dir, target_modules, extra=None):
    """What peft's LoraConfig.save_pretrained writes for the reference's get_peft_config(...)
    (r=8, lora_alpha=16, use_rslora=True, lora_dropout=0.05, task CAUSAL_LM), with target_modules
    in the given list order (peft writes list(set) -> order depends on PYTHONHASHSEED)."""
    import tempfile
    from peft import LoraConfig
    kw = dict(r=R, lora_alpha=LORA_ALPHA, use_rslora=True, lora_dropout=0.05, task_type="CAUSAL_LM",
              base_model_name_or_path=model_dir, target_modules=list(target_modules))
    if extra:
        kw.update(extra)
    with tempfile.TemporaryDirectory() as td:
        LoraConfig(**kw).save_pretrained(td)
        with open(os.path.join(td, "adapter_config.json")) as f:
            d = json.load(f)
    d["target_modules"] = list(target_modules)
    return json.dumps(d, indent=2, sort_keys=True)  # peft's exact formatting (no trailing newline)


def lora_config_from_file(path):
    from peft import LoraConfig
    with open(path) as f:
        d = json.load(f)
    known = set(LoraConfig.__dataclass_fields__)
    return LoraConfig(**{k: v for k, v in d.items() if k in known}), d


# ---------------------------------------------------------------------------------------------
# building a checkpoint
# ---------------------------------------------------------------------------------------------
def base_shapes(base_config):
    c = base_config
    H = c["hidden_size"]
    heads = c["num_attention_heads"]
    hd = c.get("head_dim") or H // heads
    kv = c.get("num_key_value_heads", heads)
    return c["num_hidden_layers"], {"q_proj": H, "v_proj": H}, {"q_proj": heads * hd, "v_proj": kv * hd}


def construct(variant, n_layers, in_f, out_f, task_emb_size, latent, head_in):
    return HyperModulator(
        target_modules=variant.target_modules, n_layers=n_layers, in_features=in_f, out_features=out_f,
        r=R, lora_alpha=LORA_ALPHA, use_rslora=True, task_emb_size=task_emb_size, latent_size=latent,
        head_in_size=head_in, head_use_bias=variant.head_use_bias(), shared_AB_head=variant.shared,
        autoreg_gen=variant.autoreg, learnable_pos_emb=variant.learnpos, training_task=variant.task,
        pred_z_score=variant.pred_z, factorized=variant.factorized,
        delta_w_scaling=variant.delta_w_scaling if variant.delta_w_scaling is not None else 10000)


def init_hypermod(hm, seed_name):
    """Every tensor random and non-zero: LayerNorms, biases, offsets, recon statistics included."""
    with torch.no_grad():
        for name, p in hm.named_parameters():
            key = (seed_name, name)
            shape = tuple(p.shape)
            if name.startswith("AB_offset.") or name.startswith("mean_recon_target."):
                v = randn(shape, *key, std=0.015)
            elif name.startswith("std_recon_target."):
                v = rand_uniform(shape, 0.02, 0.05, *key)
            elif name.startswith("out_emb."):
                v = randn(shape, *key, std=1.0)
            elif name.endswith(".weight") and p.dim() == 2 and (
                    "encoder.0." in name or name.startswith("pos_emb.0.")):
                v = randn(shape, *key, std=1.0)  # Embedding tables
            elif name.endswith(".weight") and p.dim() == 2:
                v = randn(shape, *key, std=1.0 / math.sqrt(shape[1]))  # Linear
            elif name.endswith(".weight") and p.dim() == 1:
                v = randn(shape, *key, std=0.2, mean=1.0)  # LayerNorm gain
            elif name.endswith(".bias"):
                v = randn(shape, *key, std=0.1)
            else:
                raise ValueError(f"no init rule for {name}")
            p.copy_(v)


@torch.no_grad()
def calibrate_heads(hm, encoded_task_emb, target_std):
    """Scale each head (weight and bias) so the raw head output has the target std for this
    embedding: LoRAs strong enough to move the logits, not so strong they swamp them."""
    n = hm.max_num_layers
    idx = torch.arange(n, device=encoded_task_emb.device)
    for m in hm.target_modules:
        A, B = hm.hypernet_forward(idx, m, encoded_task_emb.expand(n, -1))
        s = float(torch.cat([A.flatten(), B.flatten()]).std())
        f = target_std / s
        hm.heads[m].weight.mul_(f)
        if hm.heads[m].bias is not None:
            hm.heads[m].bias.mul_(f)


def head_target_std(variant):
    if variant.task == "sft":
        return 0.03
    if not variant.factorized:
        return 0.03 * math.sqrt(variant.delta_w_scaling)  # divided by sqrt(delta_w_scaling) at generation
    return 1.0  # z-scores, times std_recon_target (~0.08) plus mean


def write_checkpoint(variant, family, base_dir, enc_dir, out_dir, encoder_model, encoder_tok, rel_model_dir,
                     rel_emb_model, latent=TINY_LATENT, head_in=TINY_HEAD_IN, calibration_desc=None):
    from fx_encoder import embed_description
    ensure_dir(out_dir)
    with open(os.path.join(base_dir, "config.json")) as f:
        bcfg = json.load(f)
    n_layers, in_f, out_f = base_shapes(bcfg)
    task_emb_size = encoder_model.cfg["hidden_size"]
    hm = construct(variant, n_layers, in_f, out_f, task_emb_size, latent, head_in)
    init_hypermod(hm, f"{family}/{variant.name}")
    if calibration_desc is not None:
        emb = embed_description(encoder_model, encoder_tok, calibration_desc)["task_emb"][None]
        calibrate_heads(hm, hm.task_encoder(emb)["encoded_task_emb"], head_target_std(variant))
    # torch.save(hypermod.state_dict(), ".../hypermod.pt") as save_hypermod_checkpoint does; the
    # zip's record prefix is the file's stem ("hypermod/..."), fixed by the file name.
    save_state_dict(hm.state_dict(), os.path.join(out_dir, "hypermod.pt"), variant.storage_location)
    args = make_args(variant, rel_model_dir, rel_emb_model, latent, head_in)
    write_text(os.path.join(out_dir, "args.yaml"), dump_args_yaml(args))
    write_text(os.path.join(out_dir, "adapter_config.json"), peft_config_json(rel_model_dir, variant.target_modules))
    return hm


def save_state_dict(sd, path, location=None):
    """torch.save(state_dict, path). The released checkpoints were saved from GPU training, so
    their pickle names the storage location "cuda:0"; location="cuda:0" writes that tag from CPU
    tensors (torch.serialization.location_tag is swapped for the duration of the call), and such
    a file loads with torch.load(..., map_location="cpu"). location=None: the tensors' own tag."""
    import torch.serialization as ser
    if location is None:
        torch.save(sd, path)
        return
    saved = ser.location_tag
    ser.location_tag = lambda storage: location
    try:
        torch.save(sd, path)
    finally:
        ser.location_tag = saved


# ---------------------------------------------------------------------------------------------
# the reference generation path, from the files
# ---------------------------------------------------------------------------------------------
def load_checkpoint(ckpt_dir, base_config, task_emb_size, device="cpu"):
    """args.yaml + adapter_config.json + hypermod.pt -> HyperModulator (strict load)."""
    with open(os.path.join(ckpt_dir, "args.yaml")) as f:
        args = yaml.safe_load(f)
    _, acfg = lora_config_from_file(os.path.join(ckpt_dir, "adapter_config.json"))
    n_layers, in_f, out_f = base_shapes(base_config)
    task = args["training_task"]
    pred_z = args["pred_z_score"]
    factorized = args.get("factorized", False)
    if task == "recon" and not factorized and pred_z:
        raise NotImplementedError("pred_z_score not implemented for non-factorized LORA (reference behaviour)")
    head_use_bias = (task == "sft" and args["mt_lora_path"] is None) or (task == "recon" and not pred_z)
    hm = HyperModulator(
        target_modules=acfg["target_modules"], n_layers=n_layers, in_features=in_f, out_features=out_f,
        r=acfg["r"], lora_alpha=acfg["lora_alpha"], use_rslora=acfg.get("use_rslora", False),
        task_emb_size=task_emb_size, latent_size=args["hypernet_latent_size"], head_in_size=args["head_in_size"],
        head_use_bias=head_use_bias, shared_AB_head=args["shared_AB_head"], autoreg_gen=args["autoreg_gen"],
        learnable_pos_emb=args["learnable_pos_emb"], training_task=task, pred_z_score=pred_z,
        factorized=factorized, delta_w_scaling=args.get("delta_w_scaling", 10000),
        encoder_type=args["encoder_type"])
    sd = torch.load(os.path.join(ckpt_dir, "hypermod.pt"), map_location="cpu", weights_only=True)
    hm.load_state_dict(sd, strict=True)
    return hm.to(device).eval(), args, acfg


def check_module_names_against_peft(base_model, target_modules, n_layers):
    """get_lora_module_names() of the reference, computed with peft on the real base model, must
    equal the names hyper_modulator.peft_module_names() assumes."""
    from peft import LoraConfig, get_peft_model
    from peft.utils import get_peft_model_state_dict
    cfg = LoraConfig(r=R, lora_alpha=LORA_ALPHA, use_rslora=True, target_modules=list(target_modules),
                     task_type="CAUSAL_LM")
    pm = get_peft_model(base_model, cfg)
    names = {m: [[] for _ in range(n_layers)] for m in target_modules}
    for k in get_peft_model_state_dict(pm):
        if "lora" not in k:
            continue
        li = int(k.split("layers.")[-1].split(".")[0])
        for m in target_modules:
            if m in k:
                names[m][li].append(k)
                break
    expected = peft_module_names(target_modules, n_layers)
    assert names == expected, (names, expected)
    return names


def save_generated_adapter(lora_sd, ckpt_adapter_config_path, out_dir):
    """save_lora(): peft_config.save_pretrained(dir) + safetensors save_file(sd) (no metadata).
    target_modules keep the checkpoint file's order."""
    import tempfile
    ensure_dir(out_dir)
    cfg, raw = lora_config_from_file(ckpt_adapter_config_path)
    with tempfile.TemporaryDirectory() as td:
        cfg.save_pretrained(td)
        with open(os.path.join(td, "adapter_config.json")) as f:
            d = json.load(f)
    d["target_modules"] = list(raw["target_modules"])
    write_text(os.path.join(out_dir, "adapter_config.json"), json.dumps(d, indent=2, sort_keys=True))
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), lora_sd, metadata=None)
