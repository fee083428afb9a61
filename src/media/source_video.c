/* media/source_video.c: video files and network streams through FFmpeg
 * (libavformat demuxes, libavcodec decodes, libswscale converts to RGB24).
 * See source.h.
 *
 * FFmpeg's own logging is silenced (set LEDGE_FFMPEG_LOG=1 to see it); what
 * went wrong comes back as one line in err. Blocking network I/O is bounded
 * by options.timeout_ms through libavformat's interrupt callback. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "media/source_internal.h"

/* Consecutive packets that fail to decode before we give up. */
#define MAX_BAD_PACKETS 200

typedef struct {
  AVFormatContext *fmt;
  AVCodecContext *dec;
  struct SwsContext *sws;
  AVPacket *pkt;
  AVFrame *frame;
  int stream;
  AVRational time_base;
  int64_t start;      /* stream start time in time_base units (0 if unknown) */
  double last_pts;    /* for frames without a timestamp */
  int draining;       /* the demuxer is done; the decoder is being flushed */
  int bad_packets;
  double deadline;    /* monotonic seconds; 0 = none */
  int timed_out;
  media_image current;
  char input[256];
} video_state;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int interrupt_cb(void *opaque) {
  video_state *s = opaque;
  if (s->deadline > 0 && now_s() > s->deadline) {
    s->timed_out = 1;
    return 1;
  }
  return 0;
}

static void arm(video_state *s, int timeout_ms) {
  s->deadline = now_s() + timeout_ms / 1000.0;
  s->timed_out = 0;
}

static void quiet_ffmpeg(void) {
  const char *v = getenv("LEDGE_FFMPEG_LOG");
  av_log_set_level(v && *v && strcmp(v, "0") ? AV_LOG_WARNING : AV_LOG_QUIET);
}

static const char *averr(int code, char *buf, size_t size) {
  av_strerror(code, buf, size);
  return buf;
}

static void video_close(media_source *src) {
  video_state *s = src->impl;
  if (!s) return;
  if (s->sws) sws_freeContext(s->sws);
  av_frame_free(&s->frame);
  av_packet_free(&s->pkt);
  avcodec_free_context(&s->dec);
  if (s->fmt) avformat_close_input(&s->fmt);
  media_image_free(&s->current);
  free(s);
  src->impl = NULL;
}

/* Converts the decoded frame to RGB into s->current. */
static ledge_status convert(video_state *s, char *err, size_t err_size) {
  AVFrame *f = s->frame;
  if (f->width <= 0 || f->height <= 0 || f->width > MEDIA_IMAGE_MAX_SIDE || f->height > MEDIA_IMAGE_MAX_SIDE)
    return media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: frame size %dx%d is outside the limits", s->input,
                             f->width, f->height);
  if (s->current.width != f->width || s->current.height != f->height) {
    media_image_free(&s->current);
    ledge_status st = media_image_alloc(&s->current, f->width, f->height, 3, err, err_size);
    if (st) return st;
  }
  s->sws = sws_getCachedContext(s->sws, f->width, f->height, (enum AVPixelFormat)f->format, f->width, f->height,
                                AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND, NULL, NULL, NULL);
  if (!s->sws)
    return media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                             s->input, av_get_pix_fmt_name((enum AVPixelFormat)f->format) ?: "?");
  /* The stream's own matrix and range (BT.601 unless it says otherwise). */
  int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709
           : f->colorspace == AVCOL_SPC_BT2020_NCL || f->colorspace == AVCOL_SPC_BT2020_CL ? SWS_CS_BT2020
                                                                                           : SWS_CS_DEFAULT;
  int full = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
             f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P;
  int *inv, *tab, src_range, dst_range, brightness, contrast, saturation;
  if (sws_getColorspaceDetails(s->sws, &inv, &src_range, &tab, &dst_range, &brightness, &contrast, &saturation) >= 0)
    sws_setColorspaceDetails(s->sws, sws_getCoefficients(cs), full, tab, 1, brightness, contrast, saturation);
  uint8_t *dst[4] = {s->current.data, NULL, NULL, NULL};
  int dst_stride[4] = {(int)s->current.stride, 0, 0, 0};
  sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
  return LEDGE_OK;
}

static ledge_status video_read(media_source *src, media_frame *out, char *err, size_t err_size) {
  video_state *s = src->impl;
  char msg[128];
  for (;;) {
    int r = avcodec_receive_frame(s->dec, s->frame);
    if (r == 0) {
      ledge_status st = convert(s, err, err_size);
      int64_t ts = s->frame->best_effort_timestamp;
      double pts;
      if (ts == AV_NOPTS_VALUE) pts = s->last_pts + (src->info.fps > 0 ? 1.0 / src->info.fps : 0.0);
      else pts = (double)(ts - s->start) * av_q2d(s->time_base);
      av_frame_unref(s->frame);
      if (st) return st;
      s->last_pts = pts;
      out->image = s->current;
      out->pts = pts;
      return LEDGE_OK;
    }
    if (r == AVERROR_EOF) {
      out->end = 1;
      return LEDGE_OK;
    }
    if (r != AVERROR(EAGAIN))
      return media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: cannot decode video: %s", s->input,
                               averr(r, msg, sizeof msg));
    if (s->draining) {
      out->end = 1;
      return LEDGE_OK;
    }
    /* The decoder wants input: the next packet of our stream. */
    arm(s, src->options.timeout_ms);
    r = av_read_frame(s->fmt, s->pkt);
    if (r < 0) {
      if (s->timed_out)
        return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: no data for %d ms", s->input,
                                 src->options.timeout_ms);
      if (r != AVERROR_EOF && s->fmt->pb && s->fmt->pb->error && r != AVERROR_INVALIDDATA)
        return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: read failed: %s", s->input,
                                 averr(r, msg, sizeof msg));
      /* End of input (or a damaged tail): flush what the decoder holds. */
      s->draining = 1;
      avcodec_send_packet(s->dec, NULL);
      continue;
    }
    if (s->pkt->stream_index == s->stream) {
      r = avcodec_send_packet(s->dec, s->pkt);
      if (r < 0 && r != AVERROR(EAGAIN)) {
        if (++s->bad_packets > MAX_BAD_PACKETS) {
          av_packet_unref(s->pkt);
          return media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: %d packets in a row do not decode: %s",
                                   s->input, MAX_BAD_PACKETS, averr(r, msg, sizeof msg));
        }
      } else {
        s->bad_packets = 0;
      }
    }
    av_packet_unref(s->pkt);
  }
}

static const media_source_ops video_ops = {video_read, video_close};

ledge_status media_source_open_video(media_source *src, const char *input, char *err, size_t err_size) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, quiet_ffmpeg);
  int is_url = strstr(input, "://") != NULL;
  if (!is_url) {
    struct stat sb;
    if (stat(input, &sb)) return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: %s", input, strerror(errno));
    if (!S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode))
      return media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: not a file", input);
    if (sb.st_size == 0) return media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: empty file, not a video", input);
  }
  video_state *s = calloc(1, sizeof *s);
  if (!s) return media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
  src->impl = s;
  src->ops = &video_ops;
  snprintf(s->input, sizeof s->input, "%s", input);
  char msg[128];
  ledge_status st = LEDGE_OK;
  s->fmt = avformat_alloc_context();
  if (!s->fmt) {
    st = media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  s->fmt->interrupt_callback.callback = interrupt_cb;
  s->fmt->interrupt_callback.opaque = s;
  arm(s, src->options.timeout_ms);
  int r = avformat_open_input(&s->fmt, input, NULL, NULL); /* frees fmt on failure */
  if (r < 0) {
    s->fmt = NULL;
    if (s->timed_out)
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: no answer within %d ms", input, src->options.timeout_ms);
    else if (r == AVERROR_INVALIDDATA)
      st = media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: not a video file or stream (%s)", input,
                             averr(r, msg, sizeof msg));
    else if (r == AVERROR_PROTOCOL_NOT_FOUND)
      st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: unsupported protocol", input);
    else
      st = media_source_fail(err, err_size, LEDGE_ERR_IO, "%s: cannot open: %s", input, averr(r, msg, sizeof msg));
    goto done;
  }
  arm(s, src->options.timeout_ms);
  r = avformat_find_stream_info(s->fmt, NULL);
  if (r < 0) {
    st = media_source_fail(err, err_size, s->timed_out ? LEDGE_ERR_IO : LEDGE_ERR_FORMAT,
                           "%s: not a video file or stream (%s)", input,
                           s->timed_out ? "timed out" : averr(r, msg, sizeof msg));
    goto done;
  }
  const AVCodec *codec = NULL;
  r = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (r == AVERROR_DECODER_NOT_FOUND) {
    int i = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const char *name = i >= 0 ? avcodec_get_name(s->fmt->streams[i]->codecpar->codec_id) : "?";
    st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: no decoder for the video codec %s", input, name);
    goto done;
  }
  if (r < 0) {
    st = media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: not a video (a %s file without a video stream)",
                           input, s->fmt->iformat->name);
    goto done;
  }
  s->stream = r;
  AVStream *vs = s->fmt->streams[r];
  AVCodecParameters *par = vs->codecpar;
  if (par->width <= 0 || par->height <= 0 || par->width > MEDIA_IMAGE_MAX_SIDE || par->height > MEDIA_IMAGE_MAX_SIDE) {
    st = media_source_fail(err, err_size, LEDGE_ERR_FORMAT, "%s: not a usable video (frame size %dx%d)", input,
                           par->width, par->height);
    goto done;
  }
  s->dec = avcodec_alloc_context3(codec);
  s->pkt = av_packet_alloc();
  s->frame = av_frame_alloc();
  if (!s->dec || !s->pkt || !s->frame) {
    st = media_source_fail(err, err_size, LEDGE_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  if ((r = avcodec_parameters_to_context(s->dec, par)) < 0 || (r = avcodec_open2(s->dec, codec, NULL)) < 0) {
    st = media_source_fail(err, err_size, LEDGE_ERR_UNSUPPORTED, "%s: cannot open the %s decoder: %s", input,
                           codec->name, averr(r, msg, sizeof msg));
    goto done;
  }
  s->time_base = vs->time_base;
  s->start = vs->start_time != AV_NOPTS_VALUE ? vs->start_time : 0;
  AVRational rate = av_guess_frame_rate(s->fmt, vs, NULL);
  src->info.width = par->width;
  src->info.height = par->height;
  src->info.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
  src->info.frame_count = vs->nb_frames > 0 ? vs->nb_frames : -1;
  if (vs->duration != AV_NOPTS_VALUE && vs->duration > 0) src->info.duration = vs->duration * av_q2d(vs->time_base);
  else if (s->fmt->duration != AV_NOPTS_VALUE && s->fmt->duration > 0)
    src->info.duration = (double)s->fmt->duration / AV_TIME_BASE;
  snprintf(src->info.format, sizeof src->info.format, "%s/%s", s->fmt->iformat->name, codec->name);
  s->last_pts = -(src->info.fps > 0 ? 1.0 / src->info.fps : 0.0);
done:
  if (st) video_close(src);
  return st;
}
