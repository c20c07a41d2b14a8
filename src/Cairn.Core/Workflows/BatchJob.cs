using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Workflows;

/// <summary>
/// A batch job (<c>POST /cairn/v1/batch</c>): many volume operations as one durable job with a result per item. Items
/// run as a <see cref="JobBatch{TWork, TResult}"/> in chunks, each chunk one engine commit and one store commit; a
/// crash resumes at the first unfinished item and ops already done count as done (see
/// <see cref="VolumeService.ApplyAsync"/>), so items need no mark of their own. Semantics are per item, not
/// all-or-nothing: a request that does not parse is refused whole before anything runs (400), but once accepted each
/// op succeeds or fails on its own (a destroy of a name that is not there fails as such), and a job with any failed
/// item ends <c>failed</c> in phase <c>finished</c>, every item with its own result.
/// </summary>
public sealed class BatchJob(VolumeService volumes) : IJobHandler
{
    public const string JobType = "batch";
    public const int MaxItems = 100_000;
    private const int Chunk = 500;

    public string Type => JobType;

    /// <summary>Parses and validates a request up front: a bad item rejects the whole request before anything runs.</summary>
    public static List<EngineOp> Parse(JsonObject body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (body["ops"] is not JsonArray ops) throw CairnException.Invalid("'ops' (an array) is required");
        if (ops.Count == 0) throw CairnException.Invalid("'ops' is empty");
        if (ops.Count > MaxItems) throw CairnException.Invalid($"too many ops ({ops.Count}); at most {MaxItems} per batch");
        foreach (var (k, _) in body) if (k != "ops") throw CairnException.Invalid($"unknown field in request: {k}");
        var list = new List<EngineOp>(ops.Count);
        for (int i = 0; i < ops.Count; i++)
        {
            try { list.Add(ParseOp(ops[i] as JsonObject ?? throw CairnException.Invalid("not an object"))); }
            catch (CairnException e) { throw CairnException.Invalid($"ops[{i}]: {e.Message}"); }
        }
        var dup = list.Select(Key).GroupBy(k => k, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw CairnException.Invalid($"'{dup.Key}' appears more than once in the batch");
        return list;
    }

    private static EngineOp ParseOp(JsonObject o)
    {
        string S(string f) => o[f] switch
        {
            null => throw CairnException.Invalid($"'{f}' is required"),
            JsonValue v when v.TryGetValue<string>(out var s) => s.Length > 0 ? s : throw CairnException.Invalid($"'{f}' is required"),
            _ => throw CairnException.Invalid($"{f}: expected a string"),
        };
        bool B(string f) => Flag(o[f], f);
        var op = S("op");
        string[] allowed = op switch
        {
            "create" => ["op", "name", "size", "parents"],
            "clone" => ["op", "source", "target", "parents"],
            "snapshot" => ["op", "name"],
            "destroy" => ["op", "name", "recursive"],
            "destroy_snapshot" => ["op", "name"],
            _ => throw CairnException.Invalid($"unknown op '{op}' (create, clone, snapshot, destroy, destroy_snapshot)"),
        };
        foreach (var (k, _) in o) if (!allowed.Contains(k)) throw CairnException.Invalid($"unknown field '{k}' for op '{op}'");
        switch (op)
        {
            case "create":
                var size = o["size"] switch
                {
                    JsonValue v when v.TryGetValue<long>(out var n) => n,
                    JsonValue v when v.TryGetValue<string>(out var text) => Sizes.Parse(text),
                    null => throw CairnException.Invalid("'size' is required"),
                    _ => throw CairnException.Invalid("size: expected a string or number (bytes, or a size such as \"10G\")"),
                };
                return new EngineOp.CreateVolume(Names.ValidateDataset(S("name")), Sizes.ValidateVolumeSize(size), B("parents"));
            case "clone":
                var (ds, snap) = Names.ValidateSnapshot(S("source"));
                return new EngineOp.CloneSnapshot(ds, snap, Names.ValidateDataset(S("target")), B("parents"));
            case "snapshot":
                var (d2, s2) = Names.ValidateSnapshot(S("name"));
                return new EngineOp.CreateSnapshot(d2, s2);
            case "destroy":
                return new EngineOp.Destroy(Names.ValidateDataset(S("name")), B("recursive"));
            default:
                var (d3, s3) = Names.ValidateSnapshot(S("name"));
                return new EngineOp.DestroySnapshot(d3, s3);
        }
    }

    /// <summary>
    /// Submits a batch job for a request <see cref="Parse"/> accepted: one item per op, each op's name its item key and
    /// a conflict key (jobs touching the same names run one after the other).
    /// </summary>
    public static Task<JobRecord> SubmitAsync(JobEngine jobs, JsonObject body, IReadOnlyList<EngineOp> ops, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(ops);
        var keys = ops.Select(Key).ToList();
        return jobs.SubmitAsync(JobType, body, keys, "pending", keys, ct);
    }

    public static string Key(EngineOp op) => op switch
    {
        EngineOp.CreateVolume c => c.Name,
        EngineOp.CloneSnapshot c => c.Target,
        EngineOp.CreateSnapshot s => s.Dataset + "@" + s.Name,
        EngineOp.Destroy d => d.Name,
        EngineOp.DestroySnapshot d => d.Dataset + "@" + d.Name,
        _ => op.ToString(),
    };

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var ops = Parse(ctx.Job.Request as JsonObject ?? throw CairnException.Invalid("job has no request"));
        int done = ctx.Items.Count(JobItems.Finished);
        // A resumed run may find its first chunk already applied by the run a crash stopped.
        bool resumed = ctx.Job.Attempts > 1;
        var step = new JobBatch<EngineOp, EngineOpResult>
        {
            Plan = (item, _, _) => ValueTask.FromResult(ItemPlan<EngineOp>.Run(ops[item.Index])),
            Run = (chunk, c) => volumes.ApplyAsync(chunk, ct: c),
            Outcome = (o, _) =>
            {
                var error = o.Result.Error?.Message ?? Absent(o.Work, o.Result, resumed);
                return ValueTask.FromResult(new JobItem(ctx.Job.Id, o.Item.Index, Key(o.Work),
                    error is null ? ItemState.Done : ItemState.Failed, error, o.Started, DateTimeOffset.UtcNow));
            },
            Record = (c, batch) =>
            {
                done += batch.Count(JobItems.Finished);
                return c.UpdateItemsAsync(batch, progress: (double)done / ops.Count);
            },
        };
        await ctx.SetPhaseAsync("applying");
        await step.RunAsync(ctx, ctx.Items, Chunk, ct);
        // Every item has its result now, whatever the job's state will say (a job with failed items is failed).
        await ctx.SetPhaseAsync("finished");
        var failed = ctx.FailedItems();
        if (failed.Count > 0)
            throw CairnException.Invalid($"{failed.Count} of {ops.Count} items failed: " + string.Join("; ", failed.Take(5).Select(f => $"{f.Key}: {f.Error}")) + (failed.Count > 5 ? "; …" : ""));
    }

    /// <summary>
    /// Why a destroy that found nothing is a failed item: the caller named something that is not there. Only a resumed
    /// run counts it done, since the run a crash stopped may have destroyed it before its result was recorded.
    /// </summary>
    private static string? Absent(EngineOp op, EngineOpResult result, bool resumed) => (op, result.Removed, resumed) switch
    {
        (EngineOp.Destroy d, null, false) => $"{d.Name} does not exist",
        (EngineOp.DestroySnapshot d, null, false) => $"snapshot {d.Dataset}@{d.Name} does not exist",
        _ => null,
    };

    /// <summary>A boolean as old clients send it: true/false, 1/0, "true"/"false"/"1"/"0"; absent is false.</summary>
    private static bool Flag(JsonNode? node, string field) => LenientJson.Flag(node, field) ?? false;
}
