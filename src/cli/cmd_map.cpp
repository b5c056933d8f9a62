// cmd_map.cpp — `t2l map`: the LoRA manifold of a T2L checkpoint as a picture and a number.
// Descriptions (grouped, e.g. by task) -> encoder -> task embeddings -> hypernetwork in batches
// -> each adapter flattened and folded into a count sketch -> PCA or t-SNE to 2D -> a labelled
// scatter plot (PNG), the points as CSV, and the mean silhouette of the groups in the full
// space, in the embedding space and in the 2D map, each next to its shuffled-label chance level.
//
// Memory: a full-size adapter (Llama-8B, q/v, r 8) is 3.4 M floats, so 5,000 of them (68 GB)
// cannot be held. Each batch's adapters are sketched to --sketch-dim numbers as soon as the
// hypernetwork returns them and then freed: memory is one batch of adapters plus N x k floats.
// The sketch is a seeded random linear map that keeps distances in expectation (map/sketch.h),
// so PCA, t-SNE and the silhouette see the adapters' geometry up to a spread of about
// sqrt(2/k); when the flat adapter is no longer than k it is kept exactly.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/t2l_inputs.h"
#include "cli/progress.h"
#include "common.h"
#include "io/mapped_file.h"
#include "io/atomic_file.h"
#include "map/descriptions.h"
#include "map/pca.h"
#include "map/plot.h"
#include "map/silhouette.h"
#include "map/sketch.h"
#include "map/tsne.h"
#include "models/encoder.h"
#include "models/t2l_pipeline.h"
#include "ops/threads.h"

namespace t2l {

namespace {
constexpr const char* kDefaultT2l = "weights/t2l.t2l";
// Auto batch: 64 descriptions per hypernetwork call, fewer when their adapters (and the
// hypernetwork's head outputs, about three times as much) would pass this many bytes.
constexpr double kBatchBytes = 768.0 * (1 << 20);

const CommandSpec kSpec = {
    "map",
    "--descriptions FILE.tsv|FILE.txt [--t2l T2L.t2l] [--group-by COLUMN] [--groups K] [--per-group N]\n"
    "       [--method pca|tsne] [--space lora|embedding] [-o map.png] [--csv points.csv] [--seed S]",
    "Draw the LoRA manifold: adapters generated for many descriptions, projected to 2D and coloured\n"
    "by group, plus a cluster score (mean silhouette of the groups: 1 = separate groups, 0 = no\n"
    "structure) in the full space, the task-embedding space and the 2D map, each printed next to\n"
    "the score of the same points with shuffled labels (the chance level).\n"
    "\n"
    "--space lora flattens each adapter (every layer and module, A then B) and, when that is\n"
    "longer than --sketch-dim, folds it into a count sketch of that many numbers as it is\n"
    "generated (a seeded random linear map that keeps distances in expectation, spread about\n"
    "sqrt(2/k)): 5,000 full-size adapters would need 68 GB, the sketch needs N x k floats and one\n"
    "batch of adapters. PCA, t-SNE and the 'LoRA' silhouette (also the CSV's column) work on that\n"
    "sketch. --space embedding maps the encoder's task embeddings instead (no hypernetwork).\n"
    "PCA is solved exactly; t-SNE is Barnes-Hut (--theta 0: exact). Silhouettes and t-SNE's\n"
    "neighbour search cost N^2 distances: keep N to a few thousand.\n"
    "\n"
    "FILE.tsv has a header with a 'description' column; --group-by names the group column\n"
    "(default task). FILE.txt holds one description per line; a blank line starts a new group and\n"
    "a line '# name' names it. --groups K keeps K groups picked by a seeded hash of their names,\n"
    "--per-group N keeps N descriptions of each, so one seed always gives the same map.",
    {
        {"--t2l", nullptr, FlagType::String, kDefaultT2l, "T2L.t2l", "the converted T2L hypernetwork"},
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder, when not bundled in the T2L file"},
        {"--descriptions", nullptr, FlagType::String, nullptr, "FILE", ".tsv with a header, or .txt (see above)"},
        {"--group-by", nullptr, FlagType::String, nullptr, "COLUMN", ".tsv: the column that names each group (default task)"},
        {"--groups", nullptr, FlagType::Int, "0", "K", "keep K groups, picked by the seed (0 = all)"},
        {"--per-group", nullptr, FlagType::Int, "0", "N", "keep N descriptions per group, picked by the seed (0 = all)"},
        {"--method", nullptr, FlagType::String, "pca", "METHOD", "pca or tsne"},
        {"--space", nullptr, FlagType::String, "lora", "SPACE", "lora (the adapters) or embedding (the task embeddings)"},
        {"--out", "-o", FlagType::String, "map.png", "FILE", "the PNG to write"},
        {"--csv", nullptr, FlagType::String, nullptr, "FILE", "also write the points: index, group, x, y, silhouette, description"},
        {"--title", nullptr, FlagType::String, nullptr, "TEXT", "the plot's title (default: checkpoint, space and method)"},
        {"--seed", nullptr, FlagType::Int, "0", "S", "seed for the sampling, the sketch, PCA start vectors and t-SNE"},
        {"--sketch-dim", nullptr, FlagType::Int, "512", "K", "lora: numbers kept per adapter (exact when the adapter is shorter)"},
        {"--batch", nullptr, FlagType::Int, "0", "N", "descriptions per hypernetwork call (0 = 64, fewer for big adapters)"},
        {"--perplexity", nullptr, FlagType::Float, "30", "P", "t-SNE: the effective number of neighbours"},
        {"--iterations", nullptr, FlagType::Int, "1000", "N", "t-SNE: gradient steps"},
        {"--theta", nullptr, FlagType::Float, "0.5", "T", "t-SNE: Barnes-Hut opening angle (0 = exact, O(N^2) per step)"},
        {"--size", nullptr, FlagType::String, "1400x1000", "WxH", "image size in pixels"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto (encoder and hypernetwork)"},
        {"--quiet", "-q", FlagType::Bool, nullptr, nullptr, "print only errors"},
    },
    0,
    0,
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// "3407872" -> "3,407,872"
std::string grouped_digits(uint64_t v) {
    std::string s = std::to_string(v), out;
    for (size_t i = 0; i < s.size(); i++) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}
}  // namespace

int cmd_map(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const std::string method = args.str("method"), space = args.str("space");
    if (method != "pca" && method != "tsne") fail("t2l map: --method must be pca or tsne, not '", method, "'");
    if (space != "lora" && space != "embedding") fail("t2l map: --space must be lora or embedding, not '", space, "'");
    if (!args.has("descriptions")) fail("t2l map: missing --descriptions FILE.tsv|FILE.txt (see --help)");
    const int64_t groups_k = args.integer("groups"), per_group = args.integer("per-group"), sketch_k = args.integer("sketch-dim");
    const int64_t batch_arg = args.integer("batch");
    if (groups_k < 0) fail("t2l map: --groups must be >= 0");
    if (per_group < 0) fail("t2l map: --per-group must be >= 0");
    if (sketch_k < 2 || sketch_k > 65536) fail("t2l map: --sketch-dim must be in [2, 65536], not ", sketch_k);
    if (batch_arg < 0) fail("t2l map: --batch must be >= 0");
    int width = 0, height = 0;
    {
        char tail = 0;
        if (std::sscanf(args.str("size").c_str(), "%dx%d%c", &width, &height, &tail) != 2 || width < 600 || height < 400 ||
            width > 8000 || height > 8000)
            fail("t2l map: --size must be WxH with 600 <= W <= 8000 and 400 <= H <= 8000, not '", args.str("size"), "'");
    }
    const uint64_t seed = (uint64_t)args.integer("seed");
    const bool quiet = args.flag("quiet");
    map::TsneOptions topt;
    topt.perplexity = args.number("perplexity");
    topt.iterations = (int)args.integer("iterations");
    topt.theta = args.number("theta");
    topt.seed = seed;

    // Outputs are opened now so a bad path fails before minutes of work; they are committed
    // (fsync + rename) only at the end, and removed if anything fails on the way.
    AtomicFile png_file(args.str("out"));
    std::unique_ptr<AtomicFile> csv_file;
    if (args.has("csv")) csv_file = std::make_unique<AtomicFile>(args.str("csv"));

    const map::DescriptionSet all = map::read_descriptions(args.str("descriptions"), args.str("group-by"));
    const map::DescriptionSet set = map::select_descriptions(all, (size_t)groups_k, (size_t)per_group, seed);
    const int64_t n = (int64_t)set.texts.size();
    const size_t n_groups = set.names.size();
    if (n < 3) fail(args.str("descriptions"), ": ", n, " descriptions selected; a map needs at least 3");
    if (method == "tsne" && 3 * topt.perplexity > (double)(n - 1)) {
        if (args.has("perplexity"))
            fail("t2l map: --perplexity ", topt.perplexity, " needs at least ", (int64_t)(3 * topt.perplexity) + 1, " descriptions, ", n, " selected");
        topt.perplexity = std::max(1.0, (double)(n - 1) / 3);
        if (!quiet) std::fprintf(stderr, "t2l map: %lld descriptions: t-SNE perplexity lowered from 30 to %.1f\n", (long long)n, topt.perplexity);
    }
    if (!quiet && n_groups > 24)
        std::fprintf(stderr, "t2l map: %zu groups: colours get hard to tell apart and the legend is cut; --groups K keeps K of them\n", n_groups);

    const std::string t2l_path = args.str("t2l");
    if (!args.has("t2l") && !quiet) std::fprintf(stderr, "t2l map: using the default hypernetwork %s\n", kDefaultT2l);
    auto t_load = Clock::now();
    T2lPipeline pipe(t2l_path, args.str("encoder"), resolve_device(args.str("device")));
    const double load_s = seconds_since(t_load);
    const HypernetConfig& hc = pipe.hypernet().config();
    const bool lora = space == "lora";

    // The flat adapter: modules in the adapter's order (module-major, then layer), A then B.
    uint64_t flat = 0;
    for (size_t m = 0; m < hc.modules.size(); m++)
        flat += (uint64_t)hc.n_layers * (uint64_t)hc.r * (uint64_t)(hc.in_features[m] + hc.out_features[m]);
    const double adapter_bytes = (double)flat * 4;
    const int64_t batch = batch_arg > 0 ? batch_arg
                                        : std::max<int64_t>(1, std::min<int64_t>(64, (int64_t)(kBatchBytes / (3 * adapter_bytes))));
    std::unique_ptr<map::CountSketch> sketch;
    if (lora) sketch = std::make_unique<map::CountSketch>(flat, sketch_k, seed);

    map::Matrix emb(n, hc.emb_size), ada(lora ? n : 0, lora ? sketch->out_dim() : 0);
    double encode_s = 0, hyper_s = 0, sketch_s = 0;
    Progress bar(lora ? "adapters" : "embeddings", (uint64_t)n);
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
        const int64_t b1 = std::min(n, b0 + batch);
        auto t0 = Clock::now();
        std::vector<std::vector<float>> embs;
        for (int64_t i = b0; i < b1; i++) {
            embs.push_back(pipe.embed(pipe.tokenize(add_full_stop(set.texts[(size_t)i]))));
            std::copy(embs.back().begin(), embs.back().end(), emb.row(i));
            if (!lora) bar.update((uint64_t)(i + 1));
        }
        encode_s += seconds_since(t0);
        if (!lora) continue;
        auto t1 = Clock::now();
        std::vector<LoraAdapter> adapters = pipe.generate(embs);
        hyper_s += seconds_since(t1);
        auto t2 = Clock::now();
        for (const LoraAdapter& a : adapters) {  // checked here: errors cannot leave the worker threads
            uint64_t values = 0;
            for (const LoraModule& m : a.modules) values += (uint64_t)(m.A.numel() + m.B.numel());
            if (values != flat) fail("t2l map: an adapter has ", values, " values, the hypernetwork config says ", flat);
        }
        parallel_for((int64_t)adapters.size(), [&](int64_t lo, int64_t hi) {
            std::vector<double> acc((size_t)sketch->out_dim());
            for (int64_t a = lo; a < hi; a++) {
                std::fill(acc.begin(), acc.end(), 0.0);
                uint64_t off = 0;
                for (const LoraModule& m : adapters[(size_t)a].modules)
                    for (const Tensor* t : {&m.A, &m.B}) {
                        sketch->accumulate(t->f32(), off, (uint64_t)t->numel(), acc.data());
                        off += (uint64_t)t->numel();
                    }
                float* row = ada.row(b0 + a);
                for (int64_t j = 0; j < sketch->out_dim(); j++) row[j] = (float)acc[(size_t)j];
            }
        });
        sketch_s += seconds_since(t2);
        bar.update((uint64_t)b1);
    }
    bar.finish();

    // Project the chosen space to 2D.
    const map::Matrix& features = lora ? ada : emb;
    auto t_proj = Clock::now();
    map::Matrix coords;
    std::string x_label, y_label, method_text;
    if (method == "pca") {
        map::PcaResult p = map::pca(features, 2, seed);
        coords = p.scores;
        if (coords.cols < 2) fail("t2l map: the points span fewer than 2 dimensions");
        const double t = p.total_variance > 0 ? 100.0 / p.total_variance : 0;
        x_label = cat("PC1 (", fixed(p.variance[0] * t, 1), "% of the variance)");
        y_label = cat("PC2 (", fixed(p.variance[1] * t, 1), "% of the variance)");
        method_text = cat("PCA, PC1+PC2 explain ", fixed((p.variance[0] + p.variance[1]) * t, 1), "% of the variance");
        if (!quiet && p.residual > 1e-6)
            std::fprintf(stderr, "t2l map: PCA stopped after %d iterations at relative residual %.1e (close eigenvalues)\n",
                         p.iterations, p.residual);
    } else {
        map::TsneResult r = map::tsne(features, topt);
        coords = r.y;
        x_label = "t-SNE 1";
        y_label = "t-SNE 2";
        method_text = cat("t-SNE (perplexity ", fixed(topt.perplexity, 1), ", ", topt.iterations, " iterations, ",
                          topt.theta > 0 ? cat("Barnes-Hut theta ", topt.theta) : std::string("exact"), ", seed ", seed,
                          "), KL ", fixed(r.kl, 3));
    }
    const double proj_s = seconds_since(t_proj);

    // The cluster score in each space, next to the same points with shuffled labels.
    auto t_sil = Clock::now();
    const std::string lora_name = sketch && !sketch->exact()
                                      ? cat("LoRA (", grouped_digits(flat), " values, sketched to ", sketch->out_dim(), ")")
                                      : cat("LoRA (", grouped_digits(flat), " values)");
    const std::string emb_name = cat("task embedding (", hc.emb_size, "-d)");
    struct Score {
        std::string space, short_name;
        double score = 0, chance = 0;
    };
    std::vector<Score> scores;
    std::vector<double> point_sil;  // per point, full space: in the CSV
    if (n_groups >= 2) {
        const std::vector<int> shuffled = map::shuffled_labels(set.group, seed);
        auto score = [&](const std::string& name, const std::string& short_name, const map::Matrix& x, bool keep_points) {
            std::vector<std::vector<double>> s = map::silhouette(x, {set.group, shuffled});
            scores.push_back({name, short_name, map::mean_of(s[0]), map::mean_of(s[1])});
            if (keep_points) point_sil = s[0];
        };
        if (lora) score(lora_name, "LoRA", ada, true);
        score(emb_name, "embedding", emb, !lora);
        score(cat("2D map (", method == "pca" ? "PCA" : "t-SNE", ")"), "2D map", coords, false);
    }
    const double sil_s = seconds_since(t_sil);

    // The picture.
    auto t_plot = Clock::now();
    map::ScatterSpec spec;
    spec.width = width;
    spec.height = height;
    spec.title = args.has("title") ? args.str("title")
                                   : cat(lora ? "LoRA manifold of " : "Task embeddings of ", base_name(t2l_path), ", ",
                                         method == "pca" ? "PCA" : "t-SNE");
    std::string sub = cat(n, " descriptions in ", n_groups, " groups by ", set.grouped_by, "; ", lora ? lora_name : emb_name, "\n", method_text);
    if (!scores.empty()) {
        sub += "\nsilhouette of the groups (shuffled labels):";
        for (size_t i = 0; i < scores.size(); i++)
            sub += cat(i ? ", " : " ", scores[i].short_name, " ", fixed(scores[i].score, 3), " (", fixed(scores[i].chance, 3), ")");
    }
    spec.subtitle = sub;
    spec.x_label = x_label;
    spec.y_label = y_label;
    spec.group_names = set.names;
    spec.group = set.group;
    spec.seed = seed;
    for (int64_t i = 0; i < n; i++) {
        spec.x.push_back(coords.at(i, 0));
        spec.y.push_back(coords.at(i, 1));
    }
    const std::string png = map::encode_png(map::draw_scatter(spec));
    png_file.write(png.data(), png.size());
    if (csv_file) {
        std::string csv = "index,group,x,y,silhouette,description\n";
        for (int64_t i = 0; i < n; i++)
            csv += cat(i, ",", csv_field(set.names[(size_t)set.group[(size_t)i]]), ",", coords.at(i, 0), ",", coords.at(i, 1), ",",
                       point_sil.empty() ? std::string() : fixed(point_sil[(size_t)i], 4), ",", csv_field(set.texts[(size_t)i]), "\n");
        csv_file->write(csv.data(), csv.size());
        csv_file->commit();
    }
    png_file.commit();
    const double plot_s = seconds_since(t_plot);

    if (quiet) return 0;
    std::printf("t2l map: %lld descriptions, %zu groups by %s (of %zu descriptions, %zu groups in %s)\n", (long long)n, n_groups,
                set.grouped_by.c_str(), all.texts.size(), all.names.size(), args.str("descriptions").c_str());
    std::printf("space: %s; %s\n", lora ? lora_name.c_str() : emb_name.c_str(), method_text.c_str());
    if (scores.empty()) {
        std::printf("cluster score: needs at least two groups\n");
    } else {
        std::printf("cluster score = mean silhouette of the groups (1 separate, 0 no structure); chance = the same points with shuffled labels\n");
        for (const auto& s : scores) std::printf("  %-52s %7.3f   chance %7.3f\n", s.space.c_str(), s.score, s.chance);
    }
    std::printf("time: load %.2f s, encode %.2f s (%.2f ms each)", load_s, encode_s, 1e3 * encode_s / (double)n);
    if (lora)
        std::printf(", hypernetwork %.2f s (%.2f ms each, batches of %lld), sketch %.2f s", hyper_s, 1e3 * hyper_s / (double)n,
                    (long long)batch, sketch_s);
    std::printf(", projection %.2f s, silhouettes %.2f s, plot %.2f s; %d threads\n", proj_s, sil_s, plot_s, num_threads());
    std::printf("wrote %s (%dx%d)%s%s\n", args.str("out").c_str(), width, height, csv_file ? " and " : "",
                csv_file ? args.str("csv").c_str() : "");
    return 0;
}

}  // namespace t2l
