using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.Workflows.Lun;

namespace Cairn.Api.Lun;

/// <summary>
/// The LUN clone API (<c>/lun/api/v1.0</c>), compatible with nmc-probe's lun_clone clients: batch clone-and-share
/// jobs (<c>clone</c>), their status (<c>clone_status</c>), a liveness probe (<c>clone_test</c>) and
/// <c>clone_repeat</c>. Every error body is <c>{"status":"error","reason":"…"}</c>. See docs/api/lun-clone.md.
/// </summary>
public static class LunCloneApi
{
    public const string Prefix = "/lun/api/v1.0";

    /// <summary>The LUN API's error shape.</summary>
    public static ApiErrorShape ErrorShape { get; } = new("lun", "/lun", (problem, _) =>
        JsonSerializer.Serialize(new LunError("error", problem.Message), CairnJsonContext.Default.LunError));

    /// <summary>Registers the job handlers, the status renderer and the <c>/lun</c> error shape.</summary>
    public static IServiceCollection AddLunCloneApi(this IServiceCollection s)
    {
        s.AddSingleton<IJobHandler, LunCreateJob>();
        s.AddSingleton<IJobHandler, LunDeleteJob>();
        s.AddSingleton<LunStatus>();
        s.AddSingleton<ILunJobObserver>(sp => sp.GetRequiredService<LunStatus>());
        s.AddSingleton(ErrorShape);
        return s;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A status-cache refresh that fails only marks the entry stale; it must not fault the job engine's event.")]
    public static IEndpointRouteBuilder MapLunCloneApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(Prefix).WithTags("lun");
        var status = app.ServiceProvider.GetRequiredService<LunStatus>();
        app.ServiceProvider.GetRequiredService<JobEngine>().JobFinished += job =>
        {
            try { status.Finished(job); }
            catch (Exception) { status.Changed(job.Id); } // the store is closing: the next read loads it
        };

        // 201 as the original answered (its clients may check for it), though the job has only been accepted. The LUN answers
        // are written as text so their Content-Type stays the original's bare application/json; their shapes are declared.
        g.MapPost("/clone", async (HttpRequest req, JobEngine jobs, LunStatus status, CancellationToken ct) =>
        {
            var items = LunRequest.ParseCreate(await Json.ReadObjectAsync(req, ct));
            return await Submit(jobs, status, LunJobs.CreateType, LunRequest.ToJson(items),
                [.. items.Select(i => i.Dst)], [.. items.Select(i => i.Wwn)], ct);
        }).Accepts<LunCloneRequest>("application/json").Produces<LunJobAccepted>(StatusCodes.Status201Created)
            .Operation("LunClone", "Clone and share: one durable job that clones each src to dst and exports it as wwn").LunErrors(StatusCodes.Status400BadRequest);

        g.MapDelete("/clone", async (HttpRequest req, JobEngine jobs, LunStatus status, CancellationToken ct) =>
        {
            var items = LunRequest.ParseDelete(await Json.ReadObjectAsync(req, ct));
            return await Submit(jobs, status, LunJobs.DeleteType, LunRequest.ToJson(items),
                [.. items.Select(i => i.Dst)], [.. items.Select(i => i.Wwn)], ct);
        }).Accepts<LunUncloneRequest>("application/json").Produces<LunJobAccepted>(StatusCodes.Status201Created)
            .Operation("LunUnclone", "Remove targets and, when asked, their clones, as one durable job").LunErrors(StatusCodes.Status400BadRequest);

        // ?items=1 adds every item's result (big for big jobs: polls should leave it out).
        g.MapGet("/clone_status/{job_id}", (string job_id, string? items, LunStatus status) =>
            Results.Bytes(status.Render(job_id, items is not null && (Json.Flag(System.Text.Json.Nodes.JsonValue.Create(items), "items") ?? false))
                ?? throw UnknownJob(), "application/json"))
            .Produces<LunStatusAnswer>(StatusCodes.Status200OK)
            .Operation("LunCloneStatus", "A LUN job's status, counters and timings (items=1 adds every item)")
            .LunErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        // The document says POST, the original code served GET: both (two operations, one answer).
        g.MapGet("/clone_test", CloneTest).Produces<LunTestAnswer>(StatusCodes.Status200OK).Operation("LunCloneTest", "Liveness probe").LunErrors();
        g.MapPost("/clone_test", CloneTest).Produces<LunTestAnswer>(StatusCodes.Status200OK).Operation("LunCloneTestPost", "Liveness probe (POST, as documented)").LunErrors();

        // Undocumented in the original: re-queue a copy of an earlier job (same items, a new job id).
        g.MapPost("/clone_repeat", async (HttpRequest req, JobEngine jobs, LunStatus status, CancellationToken ct) =>
        {
            var body = await Json.ReadObjectAsync(req, ct);
            foreach (var (k, _) in body)
                if (k != "id") throw CairnException.Invalid($"unknown field '{k}' (expected only 'id')");
            var id = body["id"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw CairnException.Invalid("'id' (a job id) is required");
            if (!Guid.TryParse(id, out var gid) || jobs.Get(gid) is not { Type: LunJobs.CreateType or LunJobs.DeleteType } job) throw UnknownJob();
            // Re-validated: the stored request is already normalised, so this only re-derives the keys.
            var obj = (JsonObject)job.Request!;
            List<string> dsts, wwns;
            if (job.Type == LunJobs.CreateType)
            {
                var items = LunRequest.CreateFromJob(obj);
                (dsts, wwns) = ([.. items.Select(i => i.Dst)], [.. items.Select(i => i.Wwn)]);
            }
            else
            {
                var items = LunRequest.DeleteFromJob(obj);
                (dsts, wwns) = ([.. items.Select(i => i.Dst)], [.. items.Select(i => i.Wwn)]);
            }
            return await Submit(jobs, status, job.Type, obj, dsts, wwns, ct);
        }).Accepts<LunRepeatRequest>("application/json").Produces<LunJobAccepted>(StatusCodes.Status201Created)
            .Operation("LunCloneRepeat", "Re-queue a copy of an earlier LUN job (same items, a new job id)")
            .LunErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        return app;
    }

    private static IResult CloneTest() => Results.Text("""{"status":"ok","message":"test"}""", "application/json");

    private static CairnException UnknownJob() => CairnException.NotFound("unknown job id");

    private static async Task<IResult> Submit(JobEngine jobs, LunStatus status, string type, JsonObject request, List<string> dsts, List<string> wwns, CancellationToken ct)
    {
        var job = await LunJobs.SubmitAsync(jobs, type, request, dsts, wwns, ct);
        status.Submitted(job, dsts.Count);
        return Results.Text(JsonSerializer.Serialize(new LunJobAccepted("ok", job.Id.ToString()), CairnJsonContext.Default.LunJobAccepted), "application/json", statusCode: StatusCodes.Status201Created);
    }
}
