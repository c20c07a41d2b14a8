namespace Cairn.Core.Jobs;

/// <summary>
/// Runs jobs of one <see cref="Type"/>. A job may run more than once (after a crash or restart it is resumed with
/// <see cref="JobContext.IsResume"/> set), so every step must be idempotent: check before act.
/// </summary>
public interface IJobHandler
{
    /// <summary>The job type this handler runs (e.g. <c>lun-clone-create</c>).</summary>
    string Type { get; }

    /// <summary>
    /// Runs the job. Returning normally succeeds it (unless an item is <c>Failed</c>, which fails the job with a summary);
    /// throwing fails it with the exception's message; honouring <paramref name="ct"/> lets cancellation and shutdown stop it.
    /// </summary>
    Task RunAsync(JobContext ctx, CancellationToken ct);
}
