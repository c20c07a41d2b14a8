using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Api.Admin;

/// <summary>Durable jobs in the admin API: <c>/cairn/v1/jobs</c>.</summary>
public static class JobsApi
{
    public static IEndpointRouteBuilder MapCairnJobsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix + "/jobs").WithTags("jobs");

        g.MapGet("", (JobEngine jobs, string? state, int? limit) =>
        {
            JobState? st = null;
            if (state is not null)
                st = Enum.TryParse<JobState>(state, ignoreCase: true, out var s) ? s : throw CairnException.Invalid($"unknown job state '{state}'");
            return Results.Json(jobs.List(st, Math.Clamp(limit ?? 100, 1, 10_000)).Select(j => Summary(j)), Json.Options);
        });

        g.MapGet("/{id}", (string id, JobEngine jobs) =>
        {
            var job = Find(jobs, id);
            var o = Summary(job);
            o["steps"] = System.Text.Json.JsonSerializer.SerializeToNode(job.Steps, Json.Options);
            o["request"] = job.Request?.DeepClone();
            o["data"] = job.Data?.DeepClone();
            o["items"] = System.Text.Json.JsonSerializer.SerializeToNode(jobs.Items(job.Id).Select(i => new
            {
                i.Index,
                i.Key,
                i.State,
                i.Error,
                i.Started,
                i.Finished,
                Seconds = i.Started is { } s && i.Finished is { } f ? (f - s).TotalSeconds : (double?)null,
                i.Data,
            }), Json.Options);
            return Results.Json(o, Json.Options);
        });

        g.MapGet("/{id}/logs", (string id, long? after, int? limit, JobEngine jobs) =>
        {
            var job = Find(jobs, id);
            return Results.Json(jobs.Logs(job.Id, after ?? 0, Math.Clamp(limit ?? 1000, 1, 10_000))
                .Select(l => new { l.Seq, l.Time, l.Level, l.Message }), Json.Options);
        });

        g.MapPost("/{id}/cancel", async (string id, JobEngine jobs, CancellationToken ct) =>
        {
            var job = Find(jobs, id);
            var accepted = await jobs.CancelAsync(job.Id, ct);
            if (!accepted) throw CairnException.Conflict($"job {job.Id} has already finished ({job.State.ToString().ToLowerInvariant()})");
            return Results.Json(Summary(jobs.Get(job.Id)!), Json.Options, statusCode: StatusCodes.Status202Accepted);
        });

        return app;
    }

    private static JobRecord Find(JobEngine jobs, string id)
    {
        if (!Guid.TryParse(id, out var g)) throw CairnException.Invalid($"'{id}' is not a job id");
        return jobs.Get(g) ?? throw CairnException.NotFound($"job {id} does not exist");
    }

    private static System.Text.Json.Nodes.JsonObject Summary(JobRecord j) => new()
    {
        ["id"] = j.Id.ToString(),
        ["type"] = j.Type,
        ["state"] = j.State.ToString().ToLowerInvariant(),
        ["phase"] = j.Phase,
        ["progress"] = j.Progress,
        ["created"] = j.Created,
        ["started"] = j.Started,
        ["finished"] = j.Finished,
        ["seconds"] = j.Started is { } s ? ((j.Finished ?? DateTimeOffset.UtcNow) - s).TotalSeconds : null,
        ["error"] = j.Error,
        ["attempts"] = j.Attempts,
    };
}
