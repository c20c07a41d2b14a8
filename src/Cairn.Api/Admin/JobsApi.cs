using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.State;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cairn.Api.Admin;

/// <summary>Durable jobs in the admin API: <c>/cairn/v1/jobs</c>.</summary>
public static class JobsApi
{
    public static IEndpointRouteBuilder MapCairnJobsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix + "/jobs").WithTags("jobs");
        const int B = StatusCodes.Status400BadRequest, N = StatusCodes.Status404NotFound;

        g.MapGet("", Ok<JobSummary[]> (JobEngine jobs, string? state, string? type, int? limit) =>
        {
            JobState? st = null;
            if (state is not null)
                st = Enum.TryParse<JobState>(state, ignoreCase: true, out var s) && Enum.IsDefined(s) && !int.TryParse(state, out _)
                    ? s : throw CairnException.Invalid($"unknown job state '{state}' (pending, running, succeeded, failed or cancelled)");
            var n = Limit(limit, 100);
            // The store filters by state only; a type filter reads up to the retention-bounded maximum, then takes n.
            var found = type is null ? jobs.List(st, n) : jobs.List(st, 10_000).Where(j => string.Equals(j.Type, type, StringComparison.OrdinalIgnoreCase)).Take(n);
            return TypedResults.Ok(found.Select(Summary).ToArray());
        }).Operation("ListJobs", "List jobs, newest first (state: pending, running, succeeded, failed, cancelled; type: the job type, e.g. batch)").AdminErrors(B);

        g.MapGet("/{id}", Ok<JobDetail> (string id, JobEngine jobs) =>
        {
            var j = Find(jobs, id);
            var items = jobs.Items(j.Id).Select(i => new JobItemDto(i.Index, i.Key, Wire(i.State), i.Error, i.Started, i.Finished,
                i.Started is { } s && i.Finished is { } f ? (f - s).TotalSeconds : null, i.Data));
            return TypedResults.Ok(new JobDetail(j.Id, j.Type, Wire(j.State), j.Phase, j.Progress, j.Created, j.Started, j.Finished, Seconds(j), j.Error, j.Attempts,
                [.. j.Steps.Select(s => new JobStepDto(s.Name, Wire(s.State), s.Started, s.Finished, s.Error))],
                j.Request?.DeepClone(), j.Data?.DeepClone(), [.. items]));
        }).Operation("GetJob", "Show a job with its steps, request, data and items").AdminErrors(B, N);

        g.MapGet("/{id}/logs", Ok<JobLogDto[]> (string id, long? after, int? limit, JobEngine jobs) =>
        {
            var job = Find(jobs, id);
            return TypedResults.Ok(jobs.Logs(job.Id, After(after), Limit(limit, 1000))
                .Select(l => new JobLogDto(l.Seq, l.Time, l.Level, l.Message)).ToArray());
        }).Operation("GetJobLogs", "Read a job's log lines after seq").AdminErrors(B, N);

        g.MapPost("/{id}/cancel", async Task<Accepted<JobSummary>> (string id, JobEngine jobs, CancellationToken ct) =>
        {
            var job = Find(jobs, id);
            var accepted = await jobs.CancelAsync(job.Id, ct);
            if (!accepted) throw CairnException.Conflict($"job {job.Id} has already finished ({Wire(job.State)})");
            return TypedResults.Accepted((string?)null, Summary(jobs.Get(job.Id)!));
        }).Operation("CancelJob", "Ask a running job to stop (cooperative)").AdminErrors(B, N, StatusCodes.Status409Conflict);

        return app;
    }

    private static JobRecord Find(JobEngine jobs, string id)
    {
        if (!Guid.TryParse(id, out var g)) throw CairnException.Invalid($"'{id}' is not a job id");
        return jobs.Get(g) ?? throw CairnException.NotFound($"job {id} does not exist");
    }

    /// <summary>A page size: 1 to 10,000 (a value outside is refused, not silently clamped).</summary>
    private static int Limit(int? limit, int dflt) => limit switch
    {
        null => dflt,
        >= 1 and <= MaxLimit => limit.Value,
        _ => throw CairnException.Invalid($"limit: {limit} is not between 1 and {MaxLimit}"),
    };

    private static long After(long? after) => after is < 0 ? throw CairnException.Invalid($"after: {after} is negative (a log sequence number, 0 for the start)") : after ?? 0;

    private const int MaxLimit = 10_000;

    private static string Wire(JobState s) => s.ToString().ToLowerInvariant();

    private static string Wire(ItemState s) => s.ToString().ToLowerInvariant();

    private static double? Seconds(JobRecord j) => j.Started is { } s ? ((j.Finished ?? DateTimeOffset.UtcNow) - s).TotalSeconds : null;

    private static JobSummary Summary(JobRecord j) =>
        new(j.Id, j.Type, Wire(j.State), j.Phase, j.Progress, j.Created, j.Started, j.Finished, Seconds(j), j.Error, j.Attempts);
}
