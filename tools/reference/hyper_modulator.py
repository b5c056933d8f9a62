"""A PyTorch re-implementation of T2L's HyperModulator (SakanaAI/text-to-lora,
src/hyper_llm_modulator/hyper_modulator.py) for the generation path, with the same module tree,
so that a released hypermod.pt loads with strict=True and torch.save(state_dict) writes the same
pickle layout (OrderedDict + `_metadata`).

State-dict names, in registration order (d = hypernet_latent_size, h = head_in_size, r = rank,
n = number of decoder layers, in_m/out_m = in/out features of target module m):
  AB_offset.{A,B}.{m}              (n, r, in_m) / (n, out_m, r)   requires_grad False
  mean_recon_target.{A,B}.{m}      same shapes (recon + pred_z_score only)
  std_recon_target.{A,B}.{m}       same shapes
  task_encoder.mlp.0.{weight,bias}  Linear(emb, d/2)     task_encoder.mlp.1.{weight,bias} LayerNorm(d/2)
  layer_depth_encoder.0.weight      Embedding(n, d/4)    layer_depth_encoder.1.* LayerNorm(d/4)
  layer_type_encoder.0.weight       Embedding(#modules, d/4)  layer_type_encoder.1.* LayerNorm(d/4)
  mixer.1.*  Linear(d, 4d)   mixer.4.*  Linear(4d, d)   (0,3,6 Dropout; 2,5 SiLU)
  mlp1.mlp.0.* LayerNorm(d)  mlp1.mlp.1.* Linear(d,4d)  mlp1.mlp.4.* Linear(4d,d)  (2,5 SiLU; 3,6 Dropout)
  mlp2.mlp.{0,1,4}.*  same as mlp1
  mlp3.0.* LayerNorm(d)  mlp3.1.* Linear(d,4d)  mlp3.4.* Linear(4d,h)  (2,5 SiLU; 3 Dropout)
  [autoreg_gen and learnable_pos_emb]  pos_emb.0.weight Embedding(r, d), pos_emb.1.* LayerNorm(d)
  [autoreg_gen, rotary]                rotary_emb (LlamaRotaryEmbedding(dim=d, base 10000);
                                       only a non-persistent inv_freq buffer: nothing in the state dict)
  [shared_AB_head]  out_emb.{m}.A, out_emb.{m}.B  (d,)   out_emb_norm.{weight,bias} LayerNorm(d)
  heads.{m}.weight (out_size, h) [+ heads.{m}.bias when head_use_bias]
     out_size: r*(in+out) (L) | in+out (autoreg) | r*max(in,out) (shared) | max(in,out) (shared+autoreg)

The order of target modules is a list here. In the reference it is the iteration order of a
Python set (peft's LoraConfig.target_modules), which depends on PYTHONHASHSEED; the released
adapter_config.json lists the modules in the training process's order, so the list order of the
checkpoint's adapter_config.json is the order that reproduces training (see README).
"""

import math
from collections import OrderedDict

import torch
import torch.nn as nn


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class MLPResidualBlock(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, pre_layer_norm, post_dropout):
        super().__init__()
        layers = []
        if pre_layer_norm:
            layers.append(nn.LayerNorm(input_size))
        layers += [nn.Linear(input_size, hidden_size), nn.SiLU(), nn.Dropout(0.05),
                   nn.Linear(hidden_size, output_size), nn.SiLU()]
        if post_dropout:
            layers.append(nn.Dropout(0.05))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.mlp(x)


class TaskEncoder(nn.Module):
    def __init__(self, task_emb_size, encoded_size):
        super().__init__()
        self.encoded_task_emb_size = encoded_size
        self.mlp = nn.Sequential(nn.Linear(task_emb_size, encoded_size), nn.LayerNorm(encoded_size))

    def forward(self, x):
        return {"encoded_task_emb": self.mlp(x)}


class RotaryForHypernet(nn.Module):
    """transformers 4.46 LlamaRotaryEmbedding(dim=d, max_position_embeddings=64) with default rope:
    inv_freq = 1 / 10000 ** (arange(0, d, 2, int64).float() / d); forward(x, pos (1, r)) returns
    cos/sin of cat(pos*inv_freq, pos*inv_freq), shape (1, r, d), computed in fp32, cast to x.dtype."""

    def __init__(self, dim, base=10000.0):
        super().__init__()
        inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, x, position_ids):
        inv = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        pos = position_ids[:, None, :].float()
        freqs = (inv @ pos).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def _zero_lora_param_dict(target_modules, n_layers, r, in_f, out_f):
    return nn.ParameterDict({
        "A": nn.ParameterDict({m: nn.Parameter(torch.zeros(n_layers, r, in_f[m]), requires_grad=False)
                               for m in target_modules}),
        "B": nn.ParameterDict({m: nn.Parameter(torch.zeros(n_layers, out_f[m], r), requires_grad=False)
                               for m in target_modules}),
    })


class HyperModulator(nn.Module):
    def __init__(self, *, target_modules, n_layers, in_features, out_features, r, lora_alpha, use_rslora,
                 task_emb_size, latent_size, head_in_size, head_use_bias, shared_AB_head=False,
                 autoreg_gen=False, learnable_pos_emb=False, training_task="sft", pred_z_score=False,
                 factorized=False, delta_w_scaling=10000, encoder_type="linear"):
        super().__init__()
        assert not learnable_pos_emb or autoreg_gen, "learnable_pos_emb needs autoreg_gen"
        if encoder_type != "linear":
            raise NotImplementedError("only encoder_type 'linear' (the released checkpoints) is implemented")
        self.target_modules = list(target_modules)
        self.module_to_int = {m: i for i, m in enumerate(self.target_modules)}
        self.max_num_layers = n_layers
        self.in_features = dict(in_features)
        self.out_features = dict(out_features)
        self.r = r
        self.scaling = lora_alpha / r * (math.sqrt(r) if use_rslora else 1.0)
        self.shared_AB_head = shared_AB_head
        self.autoreg_gen = autoreg_gen
        self.learnable_pos_emb = learnable_pos_emb
        self.training_task = training_task
        self.pred_z_score = pred_z_score
        self.factorized = factorized
        self.delta_w_scaling = delta_w_scaling

        # Registration order matters for the state dict order and `_metadata`.
        self.AB_offset = _zero_lora_param_dict(self.target_modules, n_layers, r, in_features, out_features)
        self.mean_recon_target = _zero_lora_param_dict(self.target_modules, n_layers, r, in_features, out_features)
        self.std_recon_target = _zero_lora_param_dict(self.target_modules, n_layers, r, in_features, out_features)

        d = latent_size
        self.task_encoder = TaskEncoder(task_emb_size, d // 2)
        self.layer_depth_encoder = nn.Sequential(nn.Embedding(n_layers, d // 4), nn.LayerNorm(d // 4))
        self.layer_type_encoder = nn.Sequential(nn.Embedding(len(self.target_modules), d // 4), nn.LayerNorm(d // 4))
        self.mixer = nn.Sequential(nn.Dropout(0.05), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05),
                                   nn.Linear(4 * d, d), nn.SiLU(), nn.Dropout(0.05))
        self.mlp1 = MLPResidualBlock(d, 4 * d, d, pre_layer_norm=True, post_dropout=True)
        self.mlp2 = MLPResidualBlock(d, 4 * d, d, pre_layer_norm=True, post_dropout=True)
        self.mlp3 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05),
                                  nn.Linear(4 * d, head_in_size), nn.SiLU())
        if autoreg_gen:
            if learnable_pos_emb:
                self.pos_emb = nn.Sequential(nn.Embedding(r, d), nn.LayerNorm(d))
            else:
                self.rotary_emb = RotaryForHypernet(d)
        if shared_AB_head:
            self.out_emb = nn.ParameterDict(
                (m, nn.ParameterDict(dict(A=nn.Parameter(torch.zeros(d)), B=nn.Parameter(torch.zeros(d)))))
                for m in self.target_modules)
            self.out_emb_norm = nn.LayerNorm(d)
        heads = []
        self.split_shapes = {}
        for m in self.target_modules:
            i, o = in_features[m], out_features[m]
            if not shared_AB_head:
                size = i + o if autoreg_gen else r * (i + o)
            else:
                size = max(i, o) if autoreg_gen else r * max(i, o)
            heads.append((m, nn.Linear(head_in_size, size, bias=head_use_bias)))
            self.split_shapes[m] = [r * i, o * r]
        self.heads = nn.ModuleDict(heads)

    # ---- forward pieces (eval mode: every Dropout is the identity) -------------------------
    def embed_layer_depth(self, layer_indices):
        return self.layer_depth_encoder(layer_indices)

    def embed_layer_type(self, m):
        idx = torch.tensor([self.module_to_int[m]], dtype=torch.long, device=self.heads[m].weight.device)
        return self.layer_type_encoder(idx)

    def hypernet_forward(self, layer_indices, m, encoded_task_emb, trace=None):
        """Returns [A_flat (bs, r*in), B_flat (bs, r*out)] exactly as _hypernet_forward does."""
        bs = len(layer_indices)
        r = self.r
        dev = encoded_task_emb.device
        depth = self.embed_layer_depth(layer_indices)
        ltype = self.embed_layer_type(m).expand(bs, -1)
        cat = torch.cat([encoded_task_emb, depth, ltype], dim=-1)
        mlp_inp = self.mixer(cat)
        mlp_out = self.mlp1(mlp_inp)
        if trace is not None:
            trace.update({"hypernet_input": cat, "mixer_out": mlp_inp, "mlp1_out": mlp_out})
        head = self.heads[m]
        ranks = torch.arange(r, device=dev)
        if not self.shared_AB_head:
            if not self.autoreg_gen:
                head_in = self.mlp2(mlp_out)
                feat = self.mlp3(head_in)
                head_out = head(feat)
                out = list(torch.split(head_out, self.split_shapes[m], dim=-1))
            else:
                head_in = mlp_out.unsqueeze(1).expand(-1, r, -1)
                if self.learnable_pos_emb:
                    head_in = self.mlp2(head_in + self.pos_emb(ranks).unsqueeze(0))
                else:
                    cos, sin = self.rotary_emb(head_in, ranks.unsqueeze(0))
                    head_in = self.mlp2(head_in * cos + _rotate_half(head_in) * sin)
                feat = self.mlp3(head_in)
                head_out = head(feat)  # (bs, r, in+out)
                A, B = torch.split(head_out, (self.in_features[m], self.out_features[m]), dim=-1)
                out = [A.reshape(bs, -1), B.reshape(bs, -1)]
            if trace is not None:
                trace.update({"head_in": head_in, "mlp3_out": feat, "head_out": head_out})
            return out
        out = []
        for which, emb, nf in (("A", self.out_emb[m]["A"], self.in_features[m]),
                               ("B", self.out_emb[m]["B"], self.out_features[m])):
            head_in = self.mlp2(mlp_out + self.out_emb_norm(emb))
            if not self.autoreg_gen:
                feat = self.mlp3(head_in)
                head_out = head(feat)
                x = head_out.view(bs, r, -1)[..., :nf].reshape(bs, r * nf)
            else:
                head_in = head_in.unsqueeze(1).expand(-1, r, -1)
                if self.learnable_pos_emb:
                    # the reference runs mlp2 on the position embedding alone and adds it
                    head_in = head_in + self.mlp2(self.pos_emb(ranks).unsqueeze(0))
                else:
                    # ... while the rotary branch runs mlp2 a second time after rotating
                    cos, sin = self.rotary_emb(head_in, ranks.unsqueeze(0))
                    head_in = self.mlp2(head_in * cos + _rotate_half(head_in) * sin)
                feat = self.mlp3(head_in)
                head_out = head(feat)  # (bs, r, max(in,out))
                x = head_out[..., :nf].reshape(bs, r * nf)
            if trace is not None:
                trace.update({f"head_in_{which}": head_in, f"mlp3_out_{which}": feat, f"head_out_{which}": head_out})
            out.append(x)
        return out

    def get_delta_weights(self, layer_indices, m, encoded_task_emb, trace=None):
        """Factorised output: A (bs, r, in), B (bs, out, r); SFT adds AB_offset here."""
        bs = len(layer_indices)
        A_flat, B_flat = self.hypernet_forward(layer_indices, m, encoded_task_emb, trace)
        A = A_flat.reshape(bs, self.r, self.in_features[m])
        B = B_flat.reshape(bs, self.r, self.out_features[m]).transpose(-1, -2)
        if self.training_task == "sft":
            A = A + self.AB_offset["A"][m][layer_indices]
            B = B + self.AB_offset["B"][m][layer_indices]
        return A, B

    @torch.no_grad()
    def gen_lora(self, layer_indices, encoded_task_emb, module_names, traces=None):
        """module_names[m][layer] -> [lora_A key, lora_B key] (PEFT state-dict names).
        Returns the adapter state dict in the reference's insertion order."""
        assert encoded_task_emb.shape[0] == 1, "one task at a time, like the reference"
        lora_A, lora_B = {}, {}
        for m in self.target_modules:
            tr = {} if traces is not None else None
            lora_A[m], lora_B[m] = self.get_delta_weights(
                layer_indices, m, encoded_task_emb.expand(layer_indices.shape[0], -1), tr)
            if traces is not None:
                traces[m] = tr
        sd = OrderedDict()
        for m in self.target_modules:
            for li in layer_indices.tolist():
                for name in module_names[m][li]:
                    if "lora_A" in name:
                        sd[name] = lora_A[m][li].cpu().contiguous()
                    elif "lora_B" in name:
                        sd[name] = lora_B[m][li].cpu().contiguous()
                    else:
                        raise ValueError(name)
        if self.training_task == "recon":
            sd = self.convert_to_raw_scale(sd, layer_indices, module_names)
        return sd

    def _tensor_dict_to_sd(self, pd, layer_indices, module_names):
        out = {}
        for m in self.target_modules:
            for li in layer_indices.tolist():
                for name in module_names[m][li]:
                    key = "A" if "lora_A" in name else "B"
                    out[name] = pd[key][m][li].cpu().contiguous()
        return out

    def convert_to_raw_scale(self, sd, layer_indices, module_names):
        if self.factorized:
            if self.pred_z_score:
                mean = self._tensor_dict_to_sd(self.mean_recon_target, layer_indices, module_names)
                std = self._tensor_dict_to_sd(self.std_recon_target, layer_indices, module_names)
                for k in sd:
                    sd[k] = sd[k] * (std[k] + 1e-10) + mean[k]
            # `if self.AB_offset:` on a non-empty ParameterDict is always true in the reference
            off = self._tensor_dict_to_sd(self.AB_offset, layer_indices, module_names)
            for k in sd:
                sd[k] = sd[k] + off[k]
        else:
            if self.pred_z_score:
                raise NotImplementedError("pred_z_score not implemented for non-factorized LORA")
            for k in sd:
                sd[k] = sd[k] / math.sqrt(self.delta_w_scaling)
        return sd


def peft_module_names(target_modules, n_layers, prefix="base_model.model.model.layers"):
    """The names get_peft_model_state_dict() yields for a PEFT-wrapped *ForCausalLM with q/v LoRA."""
    return {m: [[f"{prefix}.{i}.self_attn.{m}.lora_A.weight", f"{prefix}.{i}.self_attn.{m}.lora_B.weight"]
                for i in range(n_layers)] for m in target_modules}
