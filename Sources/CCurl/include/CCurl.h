#ifndef SWITCHBOARD_CCURL_H
#define SWITCHBOARD_CCURL_H

#include <curl/curl.h>
#include <sys/types.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one
   non-variadic wrapper per argument type. */

typedef size_t (*sb_curl_data_callback)(char *data, size_t size, size_t count, void *context);

CURLcode sb_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLMcode sb_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
CURLcode sb_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode sb_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode sb_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode sb_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode sb_curl_setopt_callback(CURL *handle, CURLoption option, sb_curl_data_callback value);
CURLcode sb_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);

/* The result code of a finished transfer: CURLMsg keeps it in a union. */
CURLcode sb_curl_message_result(const CURLMsg *message);

#endif
